import CKernelSupport
import Foundation
import Synchronization

/// A fixed set of worker threads that run `parallelFor` jobs; created once, reused for every call.
///
/// Work items are handed out one at a time from a shared counter, so a thread that is slowed down
/// (another process on its core) simply takes fewer items instead of holding the others back.
/// Idle workers spin for the next job, then sleep on a condition variable: long spins (`spinNanoseconds`) while
/// a worker has its core to itself, short ones while another process shares it (`ContentionWatch`).
// @unchecked: one job at a time (the caller posts and waits); workers read the job through atomics in `SharedState`.
public final class ThreadPool: @unchecked Sendable {
    /// Number of threads that run items, the calling thread included.
    public let threadCount: Int
    private let shared: SharedState

    /// How long an idle worker spins before it sleeps while it has its core to itself: longer than the gaps
    /// between a decode step's jobs, including a worker's wait for the caller's last item (tens of µs on gpt2-xl),
    /// so that decode does not pay a wake-up (a system call, and tens of µs on a VM) per job.
    static let spinNanoseconds: UInt64 = 100_000
    /// How long it spins while another process shares its core. A thread that spins is never asleep, so the
    /// scheduler treats it as a CPU hog and lets the other process run whole time slices while a job waits; one
    /// that sleeps is run as soon as it is woken. Measured with `tools/bench/contention.sh` (gpt2 int8 beside a
    /// busy loop): workers that never slept fell from about 100 to 78 tok/s; a short spin of 2, 10 or 30 µs gave
    /// 84/83, 91/90/93/88 and 75/85 tok/s.
    static let sharedCoreSpinNanoseconds: UInt64 = 10_000
    /// Jobs between two looks at the clock to see whether a contention window is over.
    static let jobsPerContentionCheck = 128
    /// The shortest window over which a worker judges whether it waited for its core
    /// (`gpt2edge_thread_wait_nanoseconds`, a read of /proc): long enough that a kernel thread or another process
    /// running for half a millisecond does not count as sharing (gpt2 runs 128 jobs in about 2 ms).
    static let contentionWindowNanoseconds: UInt64 = 20_000_000
    /// Windows a worker keeps the short spin for after it waited for its core, before it tries the long spin again.
    static let sharedCoreChecks = 64
    /// How long a worker that waited for its core sits jobs out, leaving their items to the others, before it
    /// joins again and judges one more window. Beside a busy loop on two cores, two threads that both took items
    /// decoded gpt2 at 120 tok/s where one thread alone ran at 175: the caller waited at every job's end for the
    /// items of a worker the scheduler had set aside.
    static let sitOutNanoseconds: UInt64 = 500_000_000
    /// The share of a window a worker must have waited for its core to sit out: beside a busy loop windows read
    /// 50%; with the machine to itself most read 0 but a few read up to 29% (kernel threads, the scheduler moving
    /// threads), which the short spin tolerates but a half-second sit-out would not.
    static let sitOutWaitShare = 0.4

    /// A pool running jobs on `threadCount` threads (at least 1; the caller is one of them).
    public convenience init(threadCount: Int) { self.init(threadCount: threadCount, waitShareForTesting: nil) }

    /// `waitShareForTesting`, when set, replaces what each worker reads of its waits for a CPU (the share of each
    /// window), so tests can make workers sit out on any machine.
    init(threadCount: Int, waitShareForTesting: Double?) {
        self.threadCount = max(1, threadCount)
        shared = SharedState(workers: self.threadCount - 1, waitShareForTesting: waitShareForTesting)
        for index in 1..<self.threadCount {
            let thread = Thread { [shared] in shared.workerLoop() }   // workers keep the state, not the pool
            thread.name = "gpt2-edge-worker-\(index)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    deinit { shared.shutDown() }

    /// How many times a worker has sat jobs out because another process needed its core (`sitOutNanoseconds`).
    public var sitOuts: Int { shared.sitOuts.load(ordering: .relaxed) }

    /// Runs `body(i)` for every i in 0..<count across the pool and returns when all are done.
    public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        if threadCount == 1 || count <= 1 {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { shared.run(count: count, body: $0) }
    }

    /// What the caller and the workers share: the current job, its item counter, and the wake-up signal.
    // @unchecked: its mutable fields are atomics, or written by the caller before the job is published and read after.
    private final class SharedState: @unchecked Sendable {
        let workers: Int
        let condition = NSCondition()
        let generation = Atomic<Int>(0)
        let nextItem = Atomic<Int>(0)
        let busyWorkers = Atomic<Int>(0)
        let liveWorkers: Atomic<Int>
        let sitOuts = Atomic<Int>(0)
        var itemCount = 0
        var job: ((Int) -> Void)?
        var shuttingDown = false
        /// Workers that take jobs (the others sit out); guarded by `condition`.
        var activeWorkers: Int
        /// Where a sitting-out worker waits, apart from `condition` so that posting a job does not wake it.
        let sitOutCondition = NSCondition()

        let waitShareForTesting: Double?

        init(workers: Int, waitShareForTesting: Double?) {
            self.waitShareForTesting = waitShareForTesting
            self.workers = workers
            activeWorkers = workers
            liveWorkers = Atomic<Int>(workers)
        }

        func run(count: Int, body: @escaping (Int) -> Void) {
            condition.lock()
            job = body
            itemCount = count
            nextItem.store(0, ordering: .sequentiallyConsistent)
            busyWorkers.store(activeWorkers, ordering: .sequentiallyConsistent)
            generation.add(1, ordering: .sequentiallyConsistent)
            condition.broadcast()
            condition.unlock()

            runItems(body, count: count)
            var spins = 0
            while busyWorkers.load(ordering: .acquiring) > 0 {
                spins += 1
                if spins > 2000 { sched_yield() }
            }
            condition.lock()
            job = nil   // the closure must not outlive this call
            condition.unlock()
        }

        func runItems(_ body: (Int) -> Void, count: Int) {
            while true {
                let i = nextItem.wrappingAdd(1, ordering: .relaxed).oldValue
                if i >= count { return }
                body(i)
            }
        }

        func workerLoop() {
            var seen = 0
            var contention = ContentionWatch(waitShareForTesting: waitShareForTesting)
            while true {
                // A worker that had to wait for its core leaves the items to the others for a while.
                if contention.coreIsShared && contention.lastWaitShare > ThreadPool.sitOutWaitShare, let current = sitOut(seen: seen) {
                    seen = current
                    contention.restart()
                    continue
                }
                // Spin first: decode issues hundreds of small jobs per token.
                spinWhileIdle(seen: seen, nanoseconds: contention.coreIsShared ? ThreadPool.sharedCoreSpinNanoseconds : ThreadPool.spinNanoseconds)
                condition.lock()
                while generation.load(ordering: .acquiring) == seen && !shuttingDown { condition.wait() }
                if shuttingDown {
                    condition.unlock()
                    liveWorkers.subtract(1, ordering: .releasing)
                    return
                }
                seen = generation.load(ordering: .acquiring)
                var body = job
                let count = itemCount
                condition.unlock()
                if body != nil { runItems(body!, count: count) }
                // Drop this thread's reference before reporting done: the caller's closure must be
                // unreferenced when parallelFor returns (withoutActuallyEscaping checks, and traps otherwise).
                body = nil
                busyWorkers.subtract(1, ordering: .releasing)
                contention.jobFinished()
            }
        }

        /// Takes no jobs for `ThreadPool.sitOutNanoseconds` (or until shutdown) and returns the job generation
        /// current when it joins again, which it must not run: that job was counted without it. Returns nil, without
        /// waiting, when a job newer than `seen` was posted (it counted this worker, which must run it), or when
        /// another worker is already out (so that two busy processes on four cores do not leave one thread).
        func sitOut(seen: Int) -> Int? {
            condition.lock()
            guard generation.load(ordering: .acquiring) == seen, activeWorkers == workers, !shuttingDown else {
                condition.unlock()
                return nil
            }
            activeWorkers -= 1
            condition.unlock()
            sitOuts.add(1, ordering: .relaxed)
            let deadline = Date(timeIntervalSinceNow: Double(ThreadPool.sitOutNanoseconds) / 1e9)
            sitOutCondition.lock()
            while !shuttingDown && Date() < deadline { _ = sitOutCondition.wait(until: deadline) }
            sitOutCondition.unlock()
            condition.lock()
            activeWorkers += 1
            let current = generation.load(ordering: .acquiring)
            condition.unlock()
            return current
        }

        /// Waits, spinning, until a job newer than `seen` is posted or `nanoseconds` pass.
        func spinWhileIdle(seen: Int, nanoseconds: UInt64) {
            let start = DispatchTime.now().uptimeNanoseconds
            while true {
                for _ in 0..<64 {
                    if generation.load(ordering: .acquiring) != seen { return }
                    gpt2edge_spin_pause()
                }
                if DispatchTime.now().uptimeNanoseconds - start > nanoseconds { return }
            }
        }

        func shutDown() {
            condition.lock()
            shuttingDown = true
            condition.broadcast()
            condition.unlock()
            sitOutCondition.lock()
            sitOutCondition.broadcast()
            sitOutCondition.unlock()
            while liveWorkers.load(ordering: .acquiring) > 0 { sched_yield() }
        }
    }
}

/// One worker's view of whether another process shares its core. Over each window of at least
/// `contentionWindowNanoseconds` spent spinning long, it compares the time it waited for a CPU with the time that
/// passed; more than a quarter, and the core counts as shared for the next `sharedCoreChecks` windows (the worker
/// also sits out if it was more than `sitOutWaitShare`). Windows of short spins are not judged: a worker that
/// sleeps waits for a CPU at every wake-up, shared or not. Where the system does not report waiting
/// (`gpt2edge_thread_wait_nanoseconds` is -1) the core always counts as the worker's own.
private struct ContentionWatch {
    private var jobs = 0
    private var waited = gpt2edge_thread_wait_nanoseconds()
    private var time = DispatchTime.now().uptimeNanoseconds
    private var checksLeftShared = 0
    private let waitShareForTesting: Double?

    init(waitShareForTesting: Double?) { self.waitShareForTesting = waitShareForTesting }

    var coreIsShared: Bool { checksLeftShared > 0 }
    /// The share of the last judged window that the worker spent waiting for a CPU.
    private(set) var lastWaitShare = 0.0

    /// Starts a fresh window (after sitting out, whose waits say nothing about the core).
    mutating func restart() {
        (jobs, checksLeftShared, lastWaitShare) = (0, 0, 0)
        (waited, time) = (gpt2edge_thread_wait_nanoseconds(), DispatchTime.now().uptimeNanoseconds)
    }

    mutating func jobFinished() {
        jobs += 1
        guard jobs >= ThreadPool.jobsPerContentionCheck, waited >= 0 else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard now - time >= ThreadPool.contentionWindowNanoseconds else { return }
        jobs = 0
        let nowWaited = gpt2edge_thread_wait_nanoseconds()
        if checksLeftShared > 0 {
            checksLeftShared -= 1
            lastWaitShare = 0
        } else {
            lastWaitShare = waitShareForTesting ?? Double(nowWaited - waited) / Double(now - time)
            if lastWaitShare > 0.25 { checksLeftShared = ThreadPool.sharedCoreChecks }
        }
        (waited, time) = (nowWaited, now)
    }
}
