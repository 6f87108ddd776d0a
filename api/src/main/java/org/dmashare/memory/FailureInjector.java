package org.dmashare.memory;

import java.util.EnumMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import org.dmashare.InvalidArgumentException;
import org.dmashare.IovaSpaceExhaustedException;
import org.dmashare.MappingConflictException;
import org.dmashare.PhysicalMemoryExhaustedException;

/**
 * Makes the n-th future event at a {@link Point} fail, the way the kernel's fail_nth does, so
 * tests can prove that every multi-step operation unwinds completely wherever it fails. One
 * injector belongs to each {@link PhysicalMemory} and is shared by everything built over it: its
 * page allocator, every IOVA allocator and every page table.
 *
 * <p>When nothing is armed, {@link #check(Point)} costs one volatile read. Thread-safe.
 */
public final class FailureInjector {

    /** The places where a multi-step operation can fail. */
    public enum Point {
        /** Allocation of pages for buffer data. Fails with {@link PhysicalMemoryExhaustedException}. */
        PAGE_ALLOCATION,
        /** Allocation of a page-table page. Fails with {@link PhysicalMemoryExhaustedException}. */
        TABLE_PAGE_ALLOCATION,
        /** Allocation of an IOVA range. Fails with {@link IovaSpaceExhaustedException}. */
        IOVA_ALLOCATION,
        /** One {@code map} call into a domain. Fails with {@link MappingConflictException}. */
        MAP
    }

    private final Map<Point, AtomicLong> countdown = new EnumMap<>(Point.class);
    private final Map<Point, AtomicLong> seen = new EnumMap<>(Point.class);
    private volatile boolean armed;

    /**
     * A new injector with nothing armed, belonging to no {@link PhysicalMemory}: for an allocator
     * or model built on its own (a test, a benchmark) that should fail only when its caller arms
     * it. Each call returns a new injector, so arming one never affects another.
     *
     * @return an unarmed injector
     */
    public static FailureInjector none() {
        return new FailureInjector();
    }

    FailureInjector() {
        for (Point p : Point.values()) {
            countdown.put(p, new AtomicLong());
            seen.put(p, new AtomicLong());
        }
    }

    /**
     * Arms the injector so that the {@code n}-th event at {@code point} from now fails once.
     * Also resets the event counter of that point.
     *
     * @param point where to fail
     * @param n 1 for the next event, 2 for the one after, ...
     * @throws InvalidArgumentException if {@code n < 1}
     */
    public void failNth(Point point, long n) {
        Objects.requireNonNull(point, "point");
        if (n < 1) {
            throw new InvalidArgumentException("failNth needs n >= 1, got " + n);
        }
        seen.get(point).set(0);
        countdown.get(point).set(n);
        armed = true;
    }

    /** Disarms every point and resets the counters. */
    public void clear() {
        for (Point p : Point.values()) {
            countdown.get(p).set(0);
            seen.get(p).set(0);
        }
        armed = false;
    }

    /**
     * Returns how many events happened at {@code point} since it was last armed or cleared
     * (counted only while some point is armed).
     *
     * @param point the point
     * @return the number of events, including the one that failed
     */
    public long events(Point point) {
        return seen.get(Objects.requireNonNull(point, "point")).get();
    }

    /**
     * Returns whether an armed failure at {@code point} has not fired yet.
     *
     * @param point the point
     * @return true while the failure is still pending
     */
    public boolean pending(Point point) {
        return countdown.get(Objects.requireNonNull(point, "point")).get() > 0;
    }

    /**
     * Records one event at {@code point}; throws if it is the one armed to fail. Called by the
     * allocators, page tables and domains before they change anything.
     *
     * @param point the event's point
     * @throws PhysicalMemoryExhaustedException for an injected page or table-page failure
     * @throws IovaSpaceExhaustedException for an injected IOVA failure
     * @throws MappingConflictException for an injected map failure
     */
    public void check(Point point) {
        if (!armed) {
            return;
        }
        seen.get(point).incrementAndGet();
        AtomicLong left = countdown.get(point);
        long now = left.get();
        while (now > 0) {
            if (left.compareAndSet(now, now - 1)) {
                if (now == 1) {
                    throw injected(point);
                }
                return;
            }
            now = left.get();
        }
    }

    private static RuntimeException injected(Point point) {
        String what = "injected failure at " + point;
        switch (point) {
            case PAGE_ALLOCATION:
            case TABLE_PAGE_ALLOCATION:
                return new PhysicalMemoryExhaustedException(what);
            case IOVA_ALLOCATION:
                return new IovaSpaceExhaustedException(what);
            default:
                return new MappingConflictException(what);
        }
    }

    @Override
    public String toString() {
        return "FailureInjector[armed=" + armed + ", countdown=" + countdown + "]";
    }
}
