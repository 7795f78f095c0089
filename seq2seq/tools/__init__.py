"""Command-line tools: ``bench`` (speed), ``report`` (the results table), ``hub`` (Hugging Face Hub and Space)."""
