# Measurement frames under the payload limit (docs/references.md §J; docs/firmware.md "Payload rule"):
# quantities are taken in priority order (the config's "quantities" list) and packed
# greedily into frames of at most `limit` bytes; a quantity that fits no frame on its own
# is dropped. Frames go out in order; frames the duty cycle cannot carry in this cycle are
# dropped, so the lowest-priority quantities are the first to go.

import payload_codec


def build_frames(values, order, limit, parts=None):
    """(frames, dropped): frames is a list of bytes, dropped a list of quantity names.
    ``parts`` (a list): gets the {quantity: value} dict of each frame, in frame order."""
    frames = []
    dropped = []
    whole = payload_codec.encode(values)  # a predefined profile is the most compact: try it first
    if len(whole) <= limit:
        frames.append(whole)
        if parts is not None:
            parts.append(values)
        return frames, dropped
    cur = {}
    last = None
    for q in order:
        if q not in values:
            continue
        cur[q] = values[q]
        f = payload_codec.encode(cur)
        if len(f) <= limit:
            last = f
            continue
        del cur[q]
        if last is not None:
            frames.append(last)
            if parts is not None:
                parts.append(cur)
        cur = {q: values[q]}
        f = payload_codec.encode(cur)
        if len(f) <= limit:
            last = f
        else:
            dropped.append(q)
            cur = {}
            last = None
    if last is not None:
        frames.append(last)
        if parts is not None:
            parts.append(cur)
    return frames, dropped
