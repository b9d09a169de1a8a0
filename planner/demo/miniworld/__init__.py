"""A miniature world for closed-loop checks on CPU: a digit-recurrence task, a ~1M-parameter target LM and a
1-layer draft LM (weights shipped in weights/); the scripts that train and measure them are in tools/miniworld/."""
