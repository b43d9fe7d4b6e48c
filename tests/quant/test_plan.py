import pytest

from catdeploy.errors import UserError
from catdeploy.quant.plan import QuantPlan, make_plan
from tests.quant.tiny_graphs import tiny_mobilenet, tiny_resnet


def test_default_convention_resnet_w4a4():
    p = make_plan(tiny_resnet(), "w4a4")
    assert p.weights == {"conv1": 8, "block.conv1": 4, "block.conv2": 4, "fc": 8}
    assert p.weight_symmetric["conv1"] and not p.weight_symmetric["block.conv1"]
    # network input, pre-add tensors, the residual branch, FC input and logits are 8 bit
    assert p.values["x"] == 8
    assert p.values["conv1"] == p.values["maxpool"] == 8      # shared grid, read by the ADD
    assert p.values["block.conv2"] == 8                         # pre-add
    assert p.values["block.conv1"] == 4                         # read only by a conv
    assert p.values["add"] == p.values["avgpool"] == p.values["flatten"] == 8
    assert p.values["fc"] == 8
    # the conv reading the 8-bit residual stream gets a 4-bit requantized copy
    assert p.requants == {"maxpool@a4": ("maxpool", 4)}
    assert p.node_inputs["block.conv1"] == ("maxpool@a4",)
    assert p.node_inputs["add"] == ("block.conv2", "maxpool")
    assert p.groups["maxpool"] == p.groups["conv1"]


def test_strict_plan_uses_configured_bits_except_input_and_logits():
    p = make_plan(tiny_resnet(), "w2a2", strict=True)
    assert set(p.weights.values()) == {2}
    assert p.values["x"] == 8 and p.values["fc"] == 8
    assert p.values["block.conv2"] == 2 and p.values["add"] == 2 and p.values["flatten"] == 2
    assert p.requants == {}


def test_w8a8_has_no_requants_and_symmetric_weights():
    p = make_plan(tiny_mobilenet(), "w8a8")
    assert set(p.values.values()) == {8}
    assert p.requants == {}
    assert all(p.weight_symmetric.values())


def test_mobilenet_projection_feeding_expand_and_add():
    p = make_plan(tiny_mobilenet(), "w4a2")
    assert p.values["b1.proj"] == 8           # read by the residual ADD
    assert p.requants["b1.proj@a2"] == ("b1.proj", 2)
    assert p.values["b2.expand"] == 2 and p.values["b2.dw"] == 2


def test_overrides_and_round_trip():
    p = make_plan(tiny_resnet(), "w4a4", weight_overrides={"block.*": 2}, act_overrides={"block.conv2": 8})
    assert p.weights["block.conv1"] == 2 and p.weights["block.conv2"] == 2
    assert p.values["block.conv1"] == 8
    assert QuantPlan.from_dict(p.to_dict()) == p


@pytest.mark.parametrize("bad", ["w1a3", "w4", "", "W16A16"])
def test_bad_bit_setting_is_a_user_error(bad):
    with pytest.raises(UserError, match="--bits"):
        make_plan(tiny_resnet(), bad)


def test_override_out_of_range():
    with pytest.raises(UserError, match="out of range"):
        make_plan(tiny_resnet(), "w4a4", weight_overrides={"fc": 9})


def test_paper_convention_reads_block_outputs_at_the_activation_bits():
    p = make_plan(tiny_resnet(), "w2a4", convention="paper")
    assert p.convention == "paper" and not p.strict
    assert p.values["maxpool"] == p.values["conv1"] == 4   # block input: the conv and the skip read 4 bit
    assert p.values["block.conv2"] == 8                     # pre-add conv output (float in the papers)
    assert p.values["x"] == 8 and p.values["fc"] == 8 and p.values["flatten"] == 8  # FC input, logits
    assert p.weights == {"conv1": 8, "block.conv1": 2, "block.conv2": 2, "fc": 8}
    assert p.requants == {}
    m = make_plan(tiny_mobilenet(), "w4a2", convention="paper")
    assert m.values["b1.proj"] == 2 and "b1.proj@a2" not in m.requants  # projection read by expand + skip
    assert make_plan(tiny_resnet(), "w2a4").values["maxpool"] == 8      # the default keeps it 8 bit
    assert QuantPlan.from_dict(p.to_dict()) == p
    assert make_plan(tiny_resnet(), "w2a2", convention="strict") == make_plan(tiny_resnet(), "w2a2", strict=True)


@pytest.mark.parametrize("kwargs, fragment", [({"convention": "float"}, "--convention 'float'"),
                                              ({"convention": "paper", "strict": True}, "exclude")])
def test_bad_convention(kwargs, fragment):
    with pytest.raises(UserError, match=fragment):
        make_plan(tiny_resnet(), "w4a4", **kwargs)
