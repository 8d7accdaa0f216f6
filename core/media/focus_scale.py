"""The focus score's scale (``core.media.looks`` measures the score): what is soft whatever the
subject. Kept apart from the measuring so the settings and the burst rules read it without
loading the image libraries, which every command would otherwise pay for at start."""

SOFT_BELOW = 100.0  # a score below this is soft whatever the subject (the "soft" filter)
