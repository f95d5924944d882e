"""Graph transformations, each in place (`pass(g) -> None`), and the pipeline that orders them."""
