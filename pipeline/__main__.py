"""`python -m pipeline ...` and the `beam-deepdream` command: see pipeline/run.py."""
import sys

from pipeline.quiet_start import import_tensorflow_quietly


def cli() -> int:
    from pipeline.arguments import early_answer

    answer = early_answer(sys.argv[1:])  # --help and option mistakes need no TensorFlow
    if answer is not None:
        return answer
    import_tensorflow_quietly()  # before pipeline.run imports TensorFlow
    from pipeline.run import main

    return main()


if __name__ == "__main__":
    sys.exit(cli())
