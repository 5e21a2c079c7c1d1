/* The floors of run's design, for the benchmark: exactly the shape of its
   critical path and nothing else. Fork a "supervisor" that calls setsid and
   forks the job into its own process group; the job waits at a gate (where
   run writes its pid file and record) and execs.
     floor CMD...          the caller is told once the job has exec'd (a
                           close-on-exec pipe tells the supervisor)
     floor --gate CMD...   the caller is told by the job, once it has passed
                           the gate, before its exec (run's shape today)
   No log, no record, no lock. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int report[2], exec_status[2], gate[2];
    int at_gate = argc > 1 && strcmp(argv[1], "--gate") == 0;
    char **command = argv + 1 + at_gate;
    char byte;
    if (!command[0] || pipe2(report, O_CLOEXEC) != 0) return 2;
    if (fork() == 0) {
        setsid();
        close(report[0]);
        if (pipe2(exec_status, O_CLOEXEC) != 0 || pipe2(gate, O_CLOEXEC) != 0) _exit(1);
        if (fork() == 0) {
            setpgid(0, 0);
            close(gate[1]);
            if (read(gate[0], &byte, 1) != 1) _exit(127);
            if (at_gate) {
                (void)write(report[1], "G", 1);
                close(report[1]);
            }
            execvp(command[0], command);
            _exit(127);
        }
        close(exec_status[1]);
        close(gate[0]);
        (void)write(gate[1], "g", 1);
        close(gate[1]);
        if (!at_gate) {
            (void)read(exec_status[0], &byte, 1);
            (void)write(report[1], "P", 1);
        }
        close(report[1]);
        wait(NULL);
        _exit(0);
    }
    close(report[1]);
    return read(report[0], &byte, 1) == 1 ? 0 : 1;
}
