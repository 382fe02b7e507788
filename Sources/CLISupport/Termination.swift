#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The signal (SIGINT or SIGTERM) that asked the program to stop, 0 while none has.
private let receivedSignal = Atomic<Int32>(0)

/// SIGINT and SIGTERM end a run through its normal path: the decode loop stops between tokens, what was produced
/// is printed (finish reason `cancelled`), and the program exits 130 or 143.
///
/// The handlers are installed without `SA_RESTART`, so a blocking read of standard input returns `EINTR` and the
/// reader can stop too, instead of waiting for more input after Ctrl-C.
public enum Termination {
    /// Installs the handlers (and unblocks both signals, which a parent may have left blocked).
    public static func install() {
        _ = receivedSignal.load(ordering: .relaxed)   // initialize the global before a handler can touch it
        for number in [SIGINT, SIGTERM] {
            var action = sigaction()
            #if canImport(Glibc)
            action.__sigaction_handler.sa_handler = { number in receivedSignal.store(number, ordering: .relaxed) }
            #else
            action.__sigaction_u.__sa_handler = { number in receivedSignal.store(number, ordering: .relaxed) }
            #endif
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(number, &action, nil)
        }
        var mask = sigset_t()
        sigemptyset(&mask)
        sigaddset(&mask, SIGINT)
        sigaddset(&mask, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &mask, nil)
    }

    /// The signal received so far, if any.
    public static var signal: Int32? {
        let number = receivedSignal.load(ordering: .relaxed)
        return number == 0 ? nil : number
    }

    /// Whether the run should go on.
    public static var shouldContinue: Bool { signal == nil }
}
