"""What the maps say and how far to trust them: statistics of a map (``stats``), gradient saliency
(``saliency``), Captum attributions: integrated gradients, input x gradient, contrastive, source or
prefix (``attribution``), the ERASER deletion test (``faithfulness``), hard alignments and AER against
eflomal's (``alignment``), one model in depth and two compared (``inspection``), and the probe
sentences recorded during training (``probes``)."""
