package org.dmashare.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.dmashare.InvalidArgumentException;
import org.dmashare.PhysicalMemoryExhaustedException;
import org.junit.jupiter.api.Test;

class PageAllocatorAllocateAtTest {

    @Test
    void allocateAtTakesExactlyTheBlockAndTheRestStaysAllocatable() {
        PhysicalMemory memory = PhysicalMemory.create(0x8_0000_0000L, 1L << 20, 4096);
        PageAllocator a = memory.allocator();
        PageAllocator.Block b = a.allocateAt(0x8_0003_4000L, 0x4000, PageUse.PAGE_TABLE);
        assertThat(b.pa()).isEqualTo(0x8_0003_4000L);
        assertThat(a.isAllocated(0x8_0003_4000L, 0x4000)).isTrue();
        assertThat(a.usage().tableBytes()).isEqualTo(0x4000);
        assertThat(a.usage().freeBytes()).isEqualTo((1L << 20) - 0x4000);
        long total = 0;
        while (a.largestFreeBlock() > 0) {
            long pa = a.allocate(0x1000, PageUse.BUFFER);
            assertThat(pa < 0x8_0003_4000L || pa >= 0x8_0003_8000L).isTrue();
            total += 0x1000;
        }
        assertThat(total).isEqualTo((1L << 20) - 0x4000);
    }

    @Test
    void allocateAtOfAllocatedOrMisalignedBlockIsRefusedAndChangesNothing() {
        PhysicalMemory memory = PhysicalMemory.create(0x8_0000_0000L, 1L << 20, 4096);
        PageAllocator a = memory.allocator();
        long pa = a.allocate(0x1000, PageUse.BUFFER);
        PageAllocator.Usage before = a.usage();
        assertThatThrownBy(() -> a.allocateAt(pa & -0x4000L, 0x4000, PageUse.PAGE_TABLE))
                .isInstanceOf(PhysicalMemoryExhaustedException.class);
        assertThatThrownBy(() -> a.allocateAt(0x8_0000_2000L, 0x4000, PageUse.PAGE_TABLE))
                .isInstanceOf(InvalidArgumentException.class);
        assertThatThrownBy(() -> a.allocateAt(0x9_0000_0000L, 0x4000, PageUse.PAGE_TABLE))
                .isInstanceOf(InvalidArgumentException.class);
        assertThat(a.usage()).isEqualTo(before);
        a.free(pa, 0x1000);
        assertThat(a.usage().freeBytes()).isEqualTo(1L << 20);
    }
}
