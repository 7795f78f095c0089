"""What the maps say: statistics of a map (``stats``), gradient saliency (``saliency``), one model in
depth and two compared (``inspection``), and the probe sentences recorded during training (``probes``)."""
