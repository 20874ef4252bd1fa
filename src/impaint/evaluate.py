"""Placeholder, replaced by the evaluation harness."""


def add_evaluate_arguments(parser) -> None:
    parser.add_argument("--data")
