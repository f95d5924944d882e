"""Process groups for collectives: MPI through mpi4py (mpi.py), the GPU backend choice (backend.py), and the
report when ranks disagree (agreement.py). NCCL lives with the GPU code (runtime/gpu/nccl.py).

The runtime knows a process group only through the Communicator interface of graphc.ir.ops.collective;
mpi4py and CuPy are imported when a group is made, never when these modules are.
"""
