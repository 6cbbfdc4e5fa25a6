/* mpi.c: the CLI's few Open MPI calls (`mpirun -np N headwise influence ...`), real when the
 * build has MPI (HW_MPI, Makefile MPI=1), one rank of one otherwise, so that the same
 * command line runs in both builds. MPI stays out of the library: a rank only learns its
 * shard, and the ranks meet once, at the end, for rank 0 to merge their logs. */
#include "cli_mpi.h"

#include "cli.h"

#ifdef HW_MPI
#include <mpi.h>

static int started;

/* Only under a launcher (mpirun sets OMPI_COMM_WORLD_SIZE, PMIx/Slurm PMI_SIZE): a plain
 * run never pays MPI's start-up. */
int cli_mpi_init(int *rank, int *size) {
    *rank = 0, *size = 1;
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK") && !getenv("PMI_SIZE")) return 0;
    if (MPI_Init(NULL, NULL) != MPI_SUCCESS) return cli_error("influence", "MPI_Init failed");
    started = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
    return 0;
}

/* Every rank's status (0 or not) gathered: the largest, so that all agree on failure. */
int cli_mpi_agree(int rc) {
    int all = rc;
    if (started) MPI_Allreduce(&rc, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return all;
}

void cli_mpi_finalize(void) {
    if (started) MPI_Finalize();
    started = 0;
}
#else
/* Under mpirun, every copy of a build without MPI would score the whole corpus into the
 * same files: refused. */
int cli_mpi_init(int *rank, int *size) {
    *rank = 0, *size = 1;
    const char *n = getenv("OMPI_COMM_WORLD_SIZE");
    if (n && atoi(n) > 1)
        return cli_error("influence", "this headwise was built without MPI and runs as %s copies: rebuild "
                         "with `make MPI=1` (Open MPI's libopenmpi-dev) or run one process", n);
    return 0;
}
int cli_mpi_agree(int rc) { return rc; }
void cli_mpi_finalize(void) {}
#endif
