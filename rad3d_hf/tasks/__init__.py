"""lmms-eval's plugin task folder: ``LMMS_EVAL_PLUGINS=rad3d_hf`` adds this folder to lmms-eval's task paths.

``3drad/`` holds the tasks ``3drad`` (group) and ``3drad_task1`` .. ``3drad_task6`` (YAML and ``utils.py``, as lmms-eval
task folders are laid out); their functions are :mod:`rad3d_hf.integrations.lmms_eval.task_functions`. The folder
is also what ``rad3d-hf lmms-eval-path`` prints, for ``lmms-eval --include_path``. Nothing here is imported by the
package.
"""
