import Foundation
import Synchronization

/// A fixed set of worker threads that run `parallelFor` jobs; created once, reused for every call.
///
/// Work items are handed out one at a time from a shared counter, so a thread that is slowed down
/// (another process on its core) simply takes fewer items instead of holding the others back.
/// Idle workers spin briefly for the next job, then sleep on a condition variable.
public final class ThreadPool: @unchecked Sendable {
    /// Number of threads that run items, the calling thread included.
    public let threadCount: Int
    private let shared: SharedState

    /// A pool running jobs on `threadCount` threads (at least 1; the caller is one of them).
    public init(threadCount: Int) {
        self.threadCount = max(1, threadCount)
        shared = SharedState(workers: self.threadCount - 1)
        for index in 1..<self.threadCount {
            let thread = Thread { [shared] in shared.workerLoop() }   // workers keep the state, not the pool
            thread.name = "gpt2-edge-worker-\(index)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    deinit { shared.shutDown() }

    /// Runs `body(i)` for every i in 0..<count across the pool and returns when all are done.
    public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        if threadCount == 1 || count <= 1 {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { shared.run(count: count, body: $0) }
    }

    /// What the caller and the workers share: the current job, its item counter, and the wake-up signal.
    private final class SharedState: @unchecked Sendable {
        let workers: Int
        let condition = NSCondition()
        let generation = Atomic<Int>(0)
        let nextItem = Atomic<Int>(0)
        let busyWorkers = Atomic<Int>(0)
        let liveWorkers: Atomic<Int>
        var itemCount = 0
        var job: ((Int) -> Void)?
        var shuttingDown = false

        init(workers: Int) {
            self.workers = workers
            liveWorkers = Atomic<Int>(workers)
        }

        func run(count: Int, body: @escaping (Int) -> Void) {
            condition.lock()
            job = body
            itemCount = count
            nextItem.store(0, ordering: .sequentiallyConsistent)
            busyWorkers.store(workers, ordering: .sequentiallyConsistent)
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
            while true {
                // Spin a little first: decode issues hundreds of small jobs per token.
                var spins = 0
                while generation.load(ordering: .acquiring) == seen && spins < 20_000 { spins += 1 }
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
            }
        }

        func shutDown() {
            condition.lock()
            shuttingDown = true
            condition.broadcast()
            condition.unlock()
            while liveWorkers.load(ordering: .acquiring) > 0 { sched_yield() }
        }
    }
}
