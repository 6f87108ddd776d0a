package org.dmashare.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.dmashare.InvalidArgumentException;
import org.junit.jupiter.api.Test;

/** Every page has an owner: the allocator tells free pages, table pages and each holder's pages apart. */
class PageAllocatorHoldingTest {
    private final PhysicalMemory memory = PhysicalMemory.create(0x8_0000_0000L, 1L << 24, 4096);
    private final PageAllocator allocator = memory.allocator();

    @Test
    void holdingNamesTheLiveBlockAroundAPageWithItsUseAndHolder() {
        long holder = allocator.newHolder();
        PageAllocator.Block b = allocator.allocateLargest(0x4000, 0x4000, PageUse.BUFFER, holder);
        long table = allocator.allocate(0x1000, PageUse.PAGE_TABLE);

        assertThat(allocator.holding(b.pa() + 0x2345))
                .isEqualTo(new PageAllocator.Holding(b.pa(), 0x4000, PageUse.BUFFER, holder));
        assertThat(allocator.holding(table))
                .isEqualTo(new PageAllocator.Holding(table, 0x1000, PageUse.PAGE_TABLE, PageAllocator.ANONYMOUS));
        assertThat(allocator.holding(memory.end() - 1))
                .as("a free page has no holding")
                .isNull();
        assertThatThrownBy(() -> allocator.holding(memory.end()))
                .isExactlyInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("outside memory");
    }

    @Test
    void holderIdsAreNeverReusedAndUnknownOnesAreRefused() {
        long first = allocator.newHolder();
        long second = allocator.newHolder();
        assertThat(second).isGreaterThan(first).isPositive();
        PageAllocator.Usage before = allocator.usage();
        assertThatThrownBy(() -> allocator.allocateLargest(0x1000, 0x1000, PageUse.BUFFER, second + 1))
                .isExactlyInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("never handed out");
        assertThat(allocator.usage()).isEqualTo(before);
    }

    @Test
    void onlyTheHolderFreesItsBlock() {
        long holder = allocator.newHolder();
        long pa = allocator
                .allocateLargest(0x4000, 0x4000, PageUse.BUFFER, holder)
                .pa();
        PageAllocator.Usage held = allocator.usage();

        assertThatThrownBy(() -> allocator.free(pa, 0x4000))
                .isExactlyInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("holder #" + holder);
        assertThatThrownBy(() -> allocator.free(pa, 0x4000, allocator.newHolder()))
                .isExactlyInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("only its holder");
        assertThat(allocator.usage()).isEqualTo(held);

        allocator.free(pa, 0x4000, holder);
        assertThat(allocator.holding(pa)).isNull();
    }

    @Test
    void splitKeepsTheHolderOfEveryPage() {
        long holder = allocator.newHolder();
        long pa = allocator
                .allocateLargest(0x4000, 0x4000, PageUse.BUFFER, holder)
                .pa();
        allocator.split(pa, 0x4000);
        for (long p = pa; p < pa + 0x4000; p += 0x1000) {
            assertThat(allocator.holding(p)).isEqualTo(new PageAllocator.Holding(p, 0x1000, PageUse.BUFFER, holder));
            allocator.free(p, 0x1000, holder);
        }
        assertThat(allocator.usage().bufferBytes()).isZero();
    }
}
