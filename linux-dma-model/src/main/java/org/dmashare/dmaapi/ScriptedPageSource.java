package org.dmashare.dmaapi;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Objects;
import org.dmashare.Hex;
import org.dmashare.PhysicalMemoryExhaustedException;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;

/**
 * A {@link PageSource} that hands out planned physical addresses, for tests and demos that must
 * reproduce a documented placement (the reference's PA {@code 0x8_1234_0000} and so on). Each
 * {@link #allocate} takes the next planned address and claims exactly that block from the buddy
 * allocator ({@link org.dmashare.memory.PageAllocator#allocateAt}), so accounting, splitting and
 * freeing are real; when the plan is used up it falls back to the buddy allocator. The model
 * cannot tell the difference: it only sees addresses come back. Thread-safe.
 */
public final class ScriptedPageSource implements PageSource {
    private final PhysicalMemory memory;
    private final PageSource fallback;
    private final Deque<Long> plan = new ArrayDeque<>();

    /**
     * Creates a source with an empty plan.
     *
     * @param memory the memory whose allocator does the accounting
     */
    public ScriptedPageSource(PhysicalMemory memory) {
        this.memory = Objects.requireNonNull(memory, "memory");
        this.fallback = new BuddyPageSource(memory);
    }

    /**
     * Plans the next allocation's address. The block must be free and aligned to its size when
     * it is requested.
     *
     * @param pa the physical address the next {@link #allocate} returns
     * @return this source
     */
    public synchronized ScriptedPageSource then(long pa) {
        plan.addLast(pa);
        return this;
    }

    /**
     * Planned addresses not yet handed out.
     *
     * @return the count
     */
    public synchronized int remaining() {
        return plan.size();
    }

    /**
     * Takes the next planned address, or falls back to the buddy allocator.
     *
     * @param order the block's order
     * @param noRetry ignored
     * @return the planned address, or {@link #NO_PAGE} if the planned block is not free
     * @throws org.dmashare.InvalidArgumentException if the planned address is not aligned to the
     *     requested block size (a wrong plan)
     */
    @Override
    public long allocate(int order, boolean noRetry) {
        Long pa;
        synchronized (this) {
            pa = plan.pollFirst();
        }
        if (pa == null) {
            return fallback.allocate(order, noRetry);
        }
        try {
            return memory.allocator()
                    .allocateAt(pa, (long) memory.pageSize() << order, PageUse.BUFFER)
                    .pa();
        } catch (PhysicalMemoryExhaustedException e) {
            return NO_PAGE;
        }
    }

    @Override
    public void split(long pa, int order) {
        fallback.split(pa, order);
    }

    @Override
    public void free(long pa, int order) {
        fallback.free(pa, order);
    }

    @Override
    public synchronized String toString() {
        StringBuilder b = new StringBuilder("scripted page source, next:");
        plan.forEach(p -> b.append(' ').append(Hex.of(p)));
        return b.toString();
    }
}
