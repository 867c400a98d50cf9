"""`conformance bisect`: narrow a regression (or, with --fixed, a fix) to the first kernel image
or commit that shows it.

- verdict.py: one step's results -> old | new | skip, with the reason (what each test did);
- search.py: binary search over an ordered list of candidates (images), skips included;
- step.py: a step over a kernel image: the kernel target restricted to the chosen node ids;
- git.py and git_step.py: `git bisect run` in a worktree of the user's tree, CMD builds the image;
- section.py: the log of every step, the "First bad" section, bisect.md / bisect.json.
"""
