"""`python -m pipeline ...` and the `beam-deepdream` command: see pipeline/run.py."""
import sys


def cli() -> int:
    from pipeline.interrupts import Interrupted, signals_interrupt

    try:
        with signals_interrupt():  # main() takes over once the job can say what it did
            from pipeline.arguments import early_answer

            answer = early_answer(sys.argv[1:])  # --help and option mistakes need no TensorFlow
            if answer is not None:
                return answer
            # TensorFlow comes later, quietly (transforms/dream/quiet_tensorflow.py), and only
            # where a model is needed: not for a rerun with nothing left.
            from pipeline.run import main
    except Interrupted as stop:
        print("beam-deepdream: interrupted before the job started", file=sys.stderr)
        return stop.exit_code
    return main()


if __name__ == "__main__":
    sys.exit(cli())
