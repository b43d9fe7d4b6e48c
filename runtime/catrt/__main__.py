"""python -m catrt check MODEL.tflite MODEL.golden.npz [--interpreter ...] [--resolver ...]"""
import sys


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "check":
        print("usage: python -m catrt check MODEL.tflite MODEL.golden.npz "
              "[--interpreter tflite-runtime|litert|tensorflow|all] [--resolver ref|builtin|nodelegate|auto|all]",
              file=sys.stderr)
        return 2
    from .check import main as check_main
    return check_main(args[1:])


if __name__ == "__main__":
    sys.exit(main())
