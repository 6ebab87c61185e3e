"""Beyond one process: `apply` a trained pipeline to a corpus here or on Ray (run.py), and the teacher's
shards on Ray actors (annotate_ray.py). Ray and pyarrow are the optional `ray` extra, imported only when used."""
