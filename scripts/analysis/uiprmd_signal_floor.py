"""How much of UI-PRMD's Kinect angles a smooth 4-frames-per-token reconstruction can
reproduce at best: per-channel RMSE (degrees) between each trial and (a) its own centred
moving average over 3, 5, 9 frames, (b) linear interpolation between its exact values at
every 4th frame (an oracle with unquantised key frames at the token rate), plus the share of
one-frame jumps above 45 and 90 degrees. Used in docs/results.md.

    python scripts/analysis/uiprmd_signal_floor.py ../shared/data/ui-prmd/kinect-angles [s01 s04]
"""
import glob
import gzip
import os
import sys

import numpy as np

root = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/ui-prmd/kinect-angles"
subjects = sys.argv[2:] or ["s01", "s04"]
files = sorted(f for f in glob.glob(os.path.join(root, "*", "*.txt.gz"))
               if any(f"_{s}_" in os.path.basename(f) for s in subjects))
trials = [np.loadtxt(gzip.open(f), delimiter=",") for f in files]
frames = np.concatenate(trials)
moving = frames.std(0) > 1e-4
print(f"{len(trials)} trials of {', '.join(subjects)}: {len(frames)} frames, {moving.sum()} moving channels of {frames.shape[1]}")
for k in (3, 5, 9):
    sq = np.zeros(frames.shape[1])
    for a in trials:
        pad = np.pad(a, ((k // 2, k // 2), (0, 0)), mode="edge")
        smooth = np.stack([pad[i:i + len(a)] for i in range(k)]).mean(0)
        sq += ((a - smooth) ** 2).sum(0)
    r = np.sqrt(sq / len(frames))[moving]
    print(f"original vs its {k}-frame moving average: mean {r.mean():.2f} deg, median {np.median(r):.2f}, max {r.max():.1f}")
sq = np.zeros(frames.shape[1])
for a in trials:
    t = np.arange(len(a))
    keys = np.arange(0, len(a), 4)
    interp = np.stack([np.interp(t, keys, a[keys, c]) for c in range(a.shape[1])], 1)
    sq += ((a - interp) ** 2).sum(0)
r = np.sqrt(sq / len(frames))[moving]
print(f"original vs linear interpolation of every 4th frame: mean {r.mean():.2f} deg, median {np.median(r):.2f}, max {r.max():.1f}")
steps = np.concatenate([np.abs(np.diff(a, axis=0)) for a in trials])[:, moving]
print(f"one-frame jumps over all moving channels: >45 deg {100 * (steps > 45).mean():.2f}% of frames, >90 deg {100 * (steps > 90).mean():.2f}%")
