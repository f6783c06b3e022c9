"""MediaPipe FaceMesh (478-point) landmark index sets used across lipsync/.

Indices follow the canonical face mesh topology; lists are ordered around each contour.
"""

from __future__ import annotations

import numpy as np

# stable under speech: eye corners and nose (for the canonical similarity transform)
STABLE = np.array([33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1])
LEFT_EYE_OUTER, RIGHT_EYE_OUTER = 33, 263
NOSE_TIP, NOSE_BASE, CHIN = 1, 2, 152

# the face's outline, around from the top of the forehead
FACE_OVAL = np.array([10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
                      377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109])

# lips, each contour ordered around the mouth starting at the left corner
LIPS_OUTER = np.array([61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291,
                       375, 321, 405, 314, 17, 84, 181, 91, 146])
LIPS_INNER = np.array([78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308,
                       324, 318, 402, 317, 14, 87, 178, 88, 95])
UPPER_INNER_MID = np.array([81, 82, 13, 312, 311])
LOWER_INNER_MID = np.array([178, 87, 14, 317, 402])
MOUTH_CORNERS = (61, 291)

# skin around the mouth and the chin: moves with the jaw and lips
SURROUND = np.array([164, 167, 393, 165, 391, 92, 322, 186, 410, 57, 287, 43, 273, 212, 432,
                     202, 422, 204, 424, 106, 335, 182, 406, 83, 313, 201, 421, 194, 418,
                     18, 200, 199, 175, 152, 148, 377, 176, 400, 32, 262, 211, 431, 140, 369])

# every point the renderer moves (the mesh's inner vertices), lips first
MOVING = np.concatenate([LIPS_OUTER, LIPS_INNER, SURROUND])
N_OUTER, N_INNER = len(LIPS_OUTER), len(LIPS_INNER)
# positions of the lip contours inside MOVING
SLICE_OUTER = slice(0, N_OUTER)
SLICE_INNER = slice(N_OUTER, N_OUTER + N_INNER)


def index_in_moving(landmark: int) -> int:
    """Position of a FaceMesh landmark inside MOVING."""
    return int(np.flatnonzero(MOVING == landmark)[0])


# the landmarks kept per track in memory ("subset layout"); everything downstream indexes it via at()
SUBSET = np.unique(np.concatenate([STABLE, MOVING, [NOSE_BASE, NOSE_TIP, CHIN]]))
_POS = {int(k): i for i, k in enumerate(SUBSET)}


def at(ids) -> np.ndarray | int:
    """Positions of FaceMesh landmark ids inside SUBSET."""
    if np.ndim(ids) == 0:
        return _POS[int(ids)]
    return np.array([_POS[int(k)] for k in ids])
