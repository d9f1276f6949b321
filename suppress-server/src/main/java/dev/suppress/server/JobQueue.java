package dev.suppress.server;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.function.Consumer;

/**
 * Runs jobs one at a time, in the order they came, on one thread: the library is not run concurrently on one
 * loaded model. At most {@code capacity} jobs are waiting or running; one more is refused
 * ({@link QueueFullException}, HTTP 429).
 *
 * <p>A waiting job's {@code queuePosition} is the number of jobs ahead of it, the running one included: 1 means
 * "next". Positions are updated whenever a job starts, finishes or is cancelled.
 */
final class JobQueue implements AutoCloseable {

    /** Thrown by {@link #submit} when the queue is full. */
    static final class QueueFullException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        QueueFullException(String message) {
            super(message);
        }
    }

    private final int capacity;
    private final Consumer<Job> runner;
    private final Deque<Job> waiting = new ArrayDeque<>();
    private final Thread worker;
    private Job running;
    private boolean closed;

    /**
     * @param capacity the most jobs waiting or running at once, at least 1
     * @param runner   runs one job to its end (done, failed or cancelled); called on the queue's own thread
     */
    JobQueue(int capacity, Consumer<Job> runner) {
        if (capacity < 1) {
            throw new IllegalArgumentException("The job queue needs a capacity of at least 1, got " + capacity);
        }
        this.capacity = capacity;
        this.runner = runner;
        this.worker = new Thread(this::work, "suppress-jobs");
        this.worker.setDaemon(true);
        this.worker.start();
    }

    /** The most jobs waiting or running at once. */
    int capacity() {
        return capacity;
    }

    /**
     * Puts a job at the end of the line.
     *
     * @throws QueueFullException when {@code capacity} jobs are already waiting or running
     */
    synchronized void submit(Job job) {
        if (closed) {
            throw new IllegalStateException("The server is shutting down");
        }
        int pending = waiting.size() + (running != null ? 1 : 0);
        if (pending >= capacity) {
            throw new QueueFullException("The job queue is full: " + pending + " jobs are waiting or running (at "
                    + "most " + capacity + "); try again when one has finished");
        }
        job.queuePosition(pending);
        waiting.addLast(job);
        notifyAll();
    }

    /**
     * Cancels a job: a waiting one at once, a running one before its next UNet evaluation (the runner then marks it).
     *
     * @return false when the job had already finished
     */
    boolean cancel(Job job) {
        synchronized (this) {
            if (waiting.remove(job)) {
                job.markCancelled();
                updatePositions();
                return true;
            }
        }
        if (job.state().finished()) {
            return false;
        }
        job.requestCancel();
        return true;
    }

    /** The ids of the running job (first, if any) and the waiting ones, in order. */
    synchronized List<String> ids() {
        List<String> ids = new ArrayList<>();
        if (running != null) {
            ids.add(running.id());
        }
        for (Job job : waiting) {
            ids.add(job.id());
        }
        return ids;
    }

    private void work() {
        while (true) {
            Job next;
            synchronized (this) {
                while (waiting.isEmpty() && !closed) {
                    try {
                        wait();
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                if (closed) {
                    return;
                }
                next = waiting.removeFirst();
                running = next;
                next.markRunning();
                updatePositions();
            }
            try {
                runner.accept(next);
            } finally {
                synchronized (this) {
                    running = null;
                    updatePositions();
                }
            }
        }
    }

    /** Under the lock. */
    private void updatePositions() {
        int ahead = running != null ? 1 : 0;
        for (Job job : waiting) {
            job.queuePosition(ahead++);
        }
    }

    /**
     * Cancels every waiting job, asks the running one to stop, and waits up to {@code timeoutMillis} for it.
     */
    void close(long timeoutMillis) {
        Job current;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            for (Job job : waiting) {
                job.markCancelled();
            }
            waiting.clear();
            current = running;
            notifyAll();
        }
        if (current != null) {
            current.requestCancel();
        }
        try {
            worker.join(timeoutMillis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        close(60_000);
    }
}
