package org.dmashare.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.dmashare.InvalidArgumentException;
import org.dmashare.PhysicalMemoryExhaustedException;
import org.junit.jupiter.api.Test;

class PageAllocatorPlacementTest {
    private final PhysicalMemory memory = PhysicalMemory.create(0x8_0000_0000L, 1L << 30, 4096);
    private final PageAllocator allocator = memory.allocator();

    @Test
    void allocateAtClaimsExactlyTheRequestedBlockAndAccountsForIt() {
        PageAllocator.Block b = allocator.allocateAt(0x8_1234_0000L, 0x4000, PageUse.BUFFER);

        assertThat(b).isEqualTo(new PageAllocator.Block(0x8_1234_0000L, 0x4000, PageUse.BUFFER));
        assertThat(allocator.isAllocated(0x8_1234_0000L, 0x4000)).isTrue();
        assertThat(allocator.isAllocated(0x8_1233_C000L, 0x1000)).isFalse();
        assertThat(allocator.isAllocated(0x8_1234_4000L, 0x1000)).isFalse();
        assertThat(allocator.usage().bufferBytes()).isEqualTo(0x4000);
        assertThat(allocator.usage().freeBytes()).isEqualTo((1L << 30) - 0x4000);
    }

    @Test
    void allocateAtRefusesABlockThatIsNotFreeOrNotAligned() {
        allocator.allocateAt(0x8_0000_8000L, 0x1000, PageUse.BUFFER);
        PageAllocator.Usage before = allocator.usage();

        assertThatThrownBy(() -> allocator.allocateAt(0x8_0000_8000L, 0x4000, PageUse.BUFFER))
                .isInstanceOf(PhysicalMemoryExhaustedException.class)
                .hasMessageContaining("0x8_0000_8000");
        assertThatThrownBy(() -> allocator.allocateAt(0x8_0000_2000L, 0x4000, PageUse.BUFFER))
                .isInstanceOf(InvalidArgumentException.class);
        assertThat(allocator.usage()).isEqualTo(before);
    }

    @Test
    void splitPagesCanBeFreedOneByOneAndCoalesceBack() {
        long pa = allocator.allocateAt(0x8_2000_8000L, 0x4000, PageUse.BUFFER).pa();

        allocator.split(pa, 0x4000);
        allocator.free(pa + 0x1000, 0x1000);
        allocator.free(pa + 0x2000, 0x1000);
        allocator.free(pa + 0x3000, 0x1000);

        assertThat(allocator.isAllocated(pa, 0x1000)).isTrue();
        assertThat(allocator.isAllocated(pa + 0x1000, 0x1000)).isFalse();
        assertThat(allocator.usage().bufferBytes()).isEqualTo(0x1000);
        assertThatThrownBy(() -> allocator.free(pa, 0x4000)).isInstanceOf(InvalidArgumentException.class);
        allocator.free(pa, 0x1000);
        assertThat(allocator.usage().freeBytes()).isEqualTo(1L << 30);
        assertThat(allocator.largestFreeBlock()).isEqualTo(1L << 30);
    }

    @Test
    void splitRefusesAnythingButALiveBlockOfThatSize() {
        long pa = allocator.allocate(0x4000, PageUse.BUFFER);

        assertThatThrownBy(() -> allocator.split(pa, 0x2000)).isInstanceOf(InvalidArgumentException.class);
        assertThatThrownBy(() -> allocator.split(pa + 0x4000, 0x4000)).isInstanceOf(InvalidArgumentException.class);
        assertThat(allocator.allocatedBlocks()).containsExactly(new PageAllocator.Block(pa, 0x4000, PageUse.BUFFER));
    }
}
