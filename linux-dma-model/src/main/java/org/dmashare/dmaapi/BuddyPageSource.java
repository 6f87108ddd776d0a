package org.dmashare.dmaapi;

import java.util.Objects;
import org.dmashare.PhysicalMemoryExhaustedException;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;

/** {@link PageSource} over a memory's buddy allocator; {@code noRetry} makes no difference. */
final class BuddyPageSource implements PageSource {
    private final PhysicalMemory memory;

    BuddyPageSource(PhysicalMemory memory) {
        this.memory = Objects.requireNonNull(memory, "memory");
    }

    @Override
    public long allocate(int order, boolean noRetry) {
        try {
            return memory.allocator().allocate((long) memory.pageSize() << order, PageUse.BUFFER);
        } catch (PhysicalMemoryExhaustedException e) {
            return NO_PAGE;
        }
    }

    @Override
    public void split(long pa, int order) {
        memory.allocator().split(pa, (long) memory.pageSize() << order);
    }

    @Override
    public void free(long pa, int order) {
        memory.allocator().free(pa, (long) memory.pageSize() << order);
    }

    @Override
    public String toString() {
        return "buddy page source of " + memory;
    }
}
