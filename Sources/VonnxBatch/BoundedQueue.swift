import Glibc

/// A first-in first-out queue holding at most `capacity` elements: `push` blocks while it
/// is full, `pop` while it is empty, so a fast producer cannot run ahead of a slow consumer
/// and memory stays bounded. `close` ends the stream: `pop` then drains what is left and
/// returns nil.
final class BoundedQueue<Element: Sendable>: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var notEmpty = pthread_cond_t()
    private var notFull = pthread_cond_t()
    private var buffer: [Element] = []
    private var head = 0
    private var closed = false
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&notEmpty, nil)
        pthread_cond_init(&notFull, nil)
    }

    deinit {
        pthread_mutex_destroy(&mutex)
        pthread_cond_destroy(&notEmpty)
        pthread_cond_destroy(&notFull)
    }

    /// Appends `element`, waiting for room; returns false (dropping it) once closed.
    @discardableResult
    func push(_ element: Element) -> Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while buffer.count - head >= capacity && !closed { pthread_cond_wait(&notFull, &mutex) }
        if closed { return false }
        buffer.append(element)
        pthread_cond_signal(&notEmpty)
        return true
    }

    /// The oldest element, waiting for one; nil once closed and drained.
    func pop() -> Element? {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while buffer.count == head && !closed { pthread_cond_wait(&notEmpty, &mutex) }
        guard head < buffer.count else { return nil }
        let element = buffer[head]
        head += 1
        if head > 64 && head * 2 > buffer.count { buffer.removeFirst(head); head = 0 }
        pthread_cond_signal(&notFull)
        return element
    }

    /// Ends the stream and wakes every waiter.
    func close() {
        pthread_mutex_lock(&mutex)
        closed = true
        pthread_cond_broadcast(&notEmpty)
        pthread_cond_broadcast(&notFull)
        pthread_mutex_unlock(&mutex)
    }
}

/// Runs `body` on a new thread; `join` waits for it to end.
final class WorkerThread: @unchecked Sendable {
    private var thread = pthread_t()
    private final class Box { let body: () -> Void; init(_ body: @escaping () -> Void) { self.body = body } }

    init(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    func join() { pthread_join(thread, nil) }
}
