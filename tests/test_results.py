"""Tests for the results suites, their runner and the results page (jaxpose/results.py)."""

import json
import os

import pytest

from jaxpose import results


@pytest.mark.parametrize("suite", sorted(results.SUITES))
def test_suites_are_well_formed(suite):
  exps, claims = results.SUITES[suite](200)
  names = [e.name for e in exps]
  assert len(set(names)) == len(names)
  for e in exps:
    config = results.load_config(e.config, e.overrides)  # every override names a field
    assert config.num_steps == (200 if suite == "image" or e.name in (  # DPNet: half
        "supervised", "relative", "relative_flip30", "relative_tie100",
        "relative_subject", "supervised_drop02", "relative_drop02_skel3") else 100)
    if e.checkpoint_of:  # evaluated from an earlier experiment's checkpoint
      assert names.index(e.checkpoint_of) < names.index(e.name)
  for c in claims:
    assert {c.numerator, c.denominator} <= set(names)
  assert suite in results.HELD_OUT


def _result(name, pa):
  return {"name": name, "description": name, "step": 10,
          "action_mean": {"mpjpe": 2 * pa, "pa_mpjpe": pa, "pck2d": 0.9}}


def test_page_states_each_claim_with_its_ratio():
  claims = [results.Claim("a beats b", "pa_mpjpe", "a", "b", 1.0, "paper"),
            results.Claim("b vs a", "pa_mpjpe", "b", "a", None, "paper")]
  text = results.page("image", {"a": _result("a", 40.0), "b": _result("b", 50.0)}, claims,
                      "python launch/results.py --suite=image", 60.0)
  assert "| a beats b | paper | pa_mpjpe 40.0 / 50.0 = 0.800 | yes |" in text
  assert "| b vs a | paper | pa_mpjpe 50.0 / 40.0 = 1.250 | reported |" in text
  assert "pck2d" in text and "90.0 %" in text and results.HELD_OUT["image"] in text


def test_checkpoint_of_evaluates_another_experiments_checkpoint(tmp_path):
  tiny = (("model.width", 16), ("model.num_stages", 1), ("batch_size", 8),
          ("num_steps", 2), ("eval_every", 2), ("checkpoint_every", 2), ("log_every", 1),
          ("eval_batch_size", 64), ("num_eval_batches", 1))
  spec = "configs/supervised_lifting.py:quick"
  trained = results.run(results.Experiment("a", spec, tiny), str(tmp_path))
  again = results.run(results.Experiment("b", spec, tiny, checkpoint_of="a"), str(tmp_path))
  assert again["step"] == trained["step"] == 2
  assert again["action_mean"]["mpjpe"] == pytest.approx(trained["action_mean"]["mpjpe"],
                                                        rel=1e-5)
  with open(os.path.join(tmp_path, "b", "result.json")) as f:
    assert json.load(f)["step"] == 2
  with pytest.raises(ValueError, match="no checkpoint found"):
    results.run(results.Experiment("c", spec, tiny, checkpoint_of="missing"), str(tmp_path))
