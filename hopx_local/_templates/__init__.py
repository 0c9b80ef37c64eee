"""Template builds: uploaded contexts, steps run in a build sandbox, results kept as layers.

* :mod:`.archive`: unpacking an uploaded context, refusing escapes, links out and bombs;
* :mod:`.images`: what a base image name stands for on this host;
* :mod:`.sandbox`: the bubblewrap sandbox a build step runs in;
* :mod:`.store`: blobs, layers and built templates on disk;
* :mod:`.builder`: one build, step by step, with its log;
* :mod:`.service`: the control-plane handlers;
* :mod:`.start`: a built template's start command in a sandbox, until its ready check passes.

The runtime takes a built template's files through :func:`.store.layers_of`.
"""
