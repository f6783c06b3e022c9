"""Make a sample talking-head clip where ../shared is absent: scikit-image's public-domain astronaut
portrait, held still for the length of an English sentence spoken by espeak-ng.

usage: python scripts/make_sample.py OUT.mp4
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import imageio_ffmpeg
from skimage import data, io

TEXT = ("Hello, and welcome to our short training video. Today we will look at three simple ways "
        "to make your team meetings shorter and more useful.")

out = Path(sys.argv[1])
out.parent.mkdir(parents=True, exist_ok=True)
with tempfile.TemporaryDirectory() as tmp:
    img, wav = Path(tmp) / "face.png", Path(tmp) / "speech.wav"
    io.imsave(img, data.astronaut())
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), TEXT], check=True)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-loop", "1", "-framerate", "25",
                    "-i", str(img), "-i", str(wav), "-shortest", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", str(out)], check=True)
print(out)
