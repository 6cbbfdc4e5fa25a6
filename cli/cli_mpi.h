/* cli_mpi.h: the CLI's Open MPI calls (mpi.c), stubs of one rank in a build without MPI. */
#ifndef HW_CLI_MPI_H
#define HW_CLI_MPI_H
/* This process's rank and the number of ranks (0 and 1 unless launched by mpirun in an
 * MPI build); non-zero after an error line. */
int cli_mpi_init(int *rank, int *size);
/* The largest of every rank's rc, once every rank has called it (a barrier). */
int cli_mpi_agree(int rc);
void cli_mpi_finalize(void);
#endif
