"""Frame grid and the two domains' frames: log-mel and piano roll."""
