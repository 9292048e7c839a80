from llf_host import hookimpl
from llf_host.testing import InMemoryBackend


@hookimpl
def llf_memory_backends():
    return InMemoryBackend()
