// Package distri is the cluster behind cos: how executors find each other,
// the gRPC transport between them, the ring all-reduce that averages their
// gradients, failure detection, the engines that start executors (a local
// launcher, Slurm, Open MPI, Kubernetes) and the training job that ties them
// to the solver.
//
// # Model
//
// A job is N executor processes (ranks 0..N-1), each holding a full replica
// of the net and training on its own contiguous shard of every LMDB (shard
// r of N). After each backward pass the executors average their parameter
// gradients with a ring all-reduce, so every replica applies the same update
// and the replicas stay bit-identical. Rank 0 coordinates: it answers the
// rendezvous, watches heartbeats, logs Caffe's lines and writes models and
// snapshots.
//
// # Using it
//
// An executor builds a Config (usually Detect(os.Getenv), then flags on
// top), sets Config.DefHash = DefinitionHash(solver, net), and calls Join.
// The returned Cluster offers NewReducer (a solver.Reducer: pass it in
// solver.Options.Reducer), collectives (AllReduceMean, AllReduceSum,
// SumFloat64, Barrier), Done/Err for failures, Abort(err) to stop the job
// because of a local error, and Close at the end. RunTrain does all of it
// for a training job: join, agree on a seed, build the solver on the
// executor's shards (CheckedOpener refuses a shard smaller than one batch
// with "Insufficient training data"), broadcast rank 0's initial weights,
// train, and write the model on rank 0.
//
// A program that should start a local cluster itself (cos-train
// -clusterSize N) calls LaunchLocal when it is not already an executor (no
// COS_RANK in its environment): LaunchLocal re-runs the same binary N times
// with COS_RANK, COS_WORLD_SIZE, COS_MASTER and a fresh COS_JOB_TOKEN, and
// each child then takes the executor path. Only rank 0's standard output
// reaches the launcher's; the other ranks' standard error is forwarded with
// a "[rank k] " prefix.
//
// # Engines
//
// Detect reads, in order: COS_RANK/COS_WORLD_SIZE (explicit, and the local
// launcher), Slurm (SLURM_PROCID, SLURM_STEP_NUM_TASKS/SLURM_NTASKS, first
// host of the step's node list or SLURM_LAUNCH_NODE_IPADDR), Open MPI
// (OMPI_COMM_WORLD_RANK/_SIZE; rank 0's address from COS_MASTER or a
// rendezvous file on a shared path, COS_RENDEZVOUS_FILE, automatic when all
// ranks share one host), and a Kubernetes indexed Job (JOB_COMPLETION_INDEX
// with COS_WORLD_SIZE and COS_MASTER naming pod 0 through a headless
// service; see deploy/k8s-indexed-job.yaml). Under an engine the job token
// comes from COS_JOB_TOKEN or the file named by COS_JOB_TOKEN_FILE. The
// scripts in scripts/slurm and scripts/mpi start single-node clusters for
// CI (scripts/ci_cluster.sh).
//
// # Transport and trust
//
// Every executor serves the gRPC service of distri.proto (package
// cos.distri; Go code in distripb) on an explicit address (Config.Listen,
// COS_LISTEN; 127.0.0.1:0 for a local cluster). Every call carries the job
// token in the "cos-job-token" metadata entry; server interceptors compare
// it in constant time and refuse a call without it or with a wrong one
// (codes.Unauthenticated), logging the caller's address. The token
// authenticates but does not encrypt: run jobs on a trusted network.
//
// At the rendezvous each executor registers with rank 0: rank, address,
// host, and the definition hash; rank 0 refuses a mismatching hash (naming
// the rank and host), a duplicate rank or a different world size, failing
// the whole rendezvous with that reason, and otherwise answers everyone
// with the peer list once all N have registered.
//
// # All-reduce
//
// Rank r streams to rank r+1 over one long-lived bidirectional gRPC stream
// (over TCP, or over an abstract unix socket when the two share a host and
// network namespace, which halves the kernel's per-byte cost; Config.TCPOnly
// or COS_TCP_ONLY=1 turns that off). Chunks use a small codec of their own
// ("cosraw", protobuf's wire format) that encodes into pooled buffers and
// reads received values in place, 4-byte aligned.
// The buffer is cut into N segments; N-1 reduce-scatter steps add segments
// around the ring and N-1 all-gather steps copy the finished segments back.
// Segments are cut into chunks (Config.ChunkBytes, 512 KiB) of raw
// little-endian float32 bytes, and every chunk is forwarded as soon as it is
// processed, so the ring is pipelined. A segment's sum is computed once, by
// one rank, which divides it by N, and then only copied, so all replicas
// get bit-identical values. The Reducer packs gradients into buckets
// (Config.BucketBytes, 2 MiB) in the order the backward pass finishes them
// (last layer first) and reduces each full bucket in the background while
// the backward pass goes on, as PyTorch's DDP does.
//
// # Shared memory
//
// When all executors run on one host, collectives bypass gRPC. Rank 0
// creates a file in /dev/shm (named by a hash of the job token and its
// address, mode 0600, pages reserved up front) holding one slot per rank, a
// result region and per-rank sequence counters; at the end of the
// rendezvous every executor maps it and checks the host identity written in
// it (kernel boot id and host name), all vote over the gRPC ring, and rank
// 0 removes the file's name, so from then on nothing can be left in
// /dev/shm however the job ends (only rank 0 dying during the rendezvous
// leaves the file). If any executor cannot map it (another host, another /dev/shm,
// COS_SHM=0 or Config.NoShm), the whole job stays on gRPC; a cluster
// spanning several hosts therefore always uses gRPC. An operation is two
// barriers on the counters: every rank copies its values into its slot,
// each then sums its 1/N section over all slots into the result region, in
// the same order as the gRPC ring (so both planes give bit-identical
// results), and every rank copies the result back; the Reducer copies
// gradients straight between the diffs and the slots. A waiting executor
// spins briefly, then yields, then sleeps, and gives up when the job fails
// (heartbeats declare a dead or hung executor lost) or after
// Config.OpTimeout. An executor pinned to one core, which Join gives a
// second P so that ring goroutines run promptly, goes back to GOMAXPROCS 1
// on this plane: nothing needs to run beside the computation. With every
// executor on its own core, one all-reduce of LeNet's 1.7 MB gradient costs
// about 0.3 ms instead of gRPC's 1.1–1.9 ms. Cluster.DataPlane reports the
// plane in use ("shm", "unix" or "tcp"). Control traffic (rendezvous,
// heartbeats, failure notices) always uses gRPC.
//
// On this plane the Reducer also shards the solver update (as ZeRO stage 1
// does; see shard.go): each rank sums only its section of the gradient,
// applies the solver's update to that section while it is in cache, and
// publishes the new weights, which the other ranks copy into their
// replicas. Every element is still computed by exactly one rank with the
// same operations, so the weights are bit-identical to the unsharded path;
// the solver history is gathered before a snapshot. With two executors the
// param diffs themselves live in shared memory, so the backward pass writes
// each gradient where the other rank reads it (COS_SHARDED_HOME=0 copies
// them there instead). Gradient clipping (which needs the global norm) and
// gradients larger than one slot use the unsharded path;
// COS_SHARDED_UPDATE=0 turns sharding off.
//
// COS_BENCH_NO_EXCHANGE=1 is a measurement, not training: Wait is then only
// a barrier and no gradient is exchanged, so each replica follows its own
// gradient. scripts/scaling_bench.sh uses it to separate what the lock-step
// of synchronous training costs from what the exchange costs.
//
// # Failures
//
// Executors exchange heartbeats with rank 0 (Config.HeartbeatInterval, 1 s).
// A dead executor is noticed when its connections close; a hung one when it
// has been silent for Config.FailTimeout (10 s). Whoever notices tells rank
// 0, rank 0 tells everyone, and every executor's pending and future
// collectives fail with a *PeerError naming the lost rank and its host; the
// local launcher then exits non-zero naming the rank and its exit status.
// Every collective also has a deadline (Config.OpTimeout).
package distri
