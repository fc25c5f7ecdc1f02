# knowloc's Hydra configs (read as pkg://knowloc.conf).
