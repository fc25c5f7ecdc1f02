def test_default_experiment_trains_above_90(run_job):
    rec = run_job(["logger=csv", "trainer.max_epochs=3"])
    assert rec["status"] == "finished"
    assert rec["metrics"]["test/acc"] > 0.9
