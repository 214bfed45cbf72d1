"""An <Include> resolves next to the including file, never in the current
directory first (pylems alone reads a same-named file where Python runs:
a stale copy there was silently simulated instead of the model's own)."""
import shutil
from pathlib import Path

import numpy as np

import nmlcell

SW_KS = Path(__file__).parent / "data" / "nml_sweep" / "sw_ks"


def test_include_is_read_next_to_the_including_file(tmp_path, monkeypatch):
    monkeypatch.setenv("NMLCELL_CACHE", "off")  # a cached import would never read the files again
    model = tmp_path / "model"
    shutil.copytree(SW_KS, model)
    ref = nmlcell.load(model / "LEMS_sw_ks.xml").run(duration=20.0)
    # a different model of the same file name in the working directory: the
    # K scheme's first opening rate five times larger
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    text = (model / "sw_ks.cell.nml").read_text()
    old = '<rate type="HHExpLinearRate" rate="0.2per_ms"'
    assert text.count(old) == 1
    (cwd / "sw_ks.cell.nml").write_text(text.replace(old, '<rate type="HHExpLinearRate" rate="1.0per_ms"'))
    monkeypatch.chdir(cwd)
    got = nmlcell.load(model / "LEMS_sw_ks.xml").run(duration=20.0)
    keys = [k for k in ref.quantities if k != "t"]
    assert keys
    for k in keys:
        assert np.array_equal(np.asarray(ref[k]), np.asarray(got[k])), k
    # and the stale copy does change the model when it is the one included
    shutil.copy(cwd / "sw_ks.cell.nml", model / "sw_ks.cell.nml")
    other = nmlcell.load(model / "LEMS_sw_ks.xml").run(duration=20.0)
    assert any(not np.allclose(np.asarray(ref[k]), np.asarray(other[k])) for k in keys)
