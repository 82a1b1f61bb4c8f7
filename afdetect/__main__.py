"""Allow ``python -m afdetect`` (and ``torchrun -m afdetect``)."""

from afdetect.cli import main

if __name__ == "__main__":
    main()
