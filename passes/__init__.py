"""Graph -> Graph transformations and the pipeline that orders them."""
