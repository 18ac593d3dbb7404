"""edgeseg.bench: synthetic objects, the FPS-against-object-count harness, reports."""
