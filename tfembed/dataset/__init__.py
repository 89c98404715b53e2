"""Reading prepared datasets: clip schema, manifest, clips and neighbour pairs."""
