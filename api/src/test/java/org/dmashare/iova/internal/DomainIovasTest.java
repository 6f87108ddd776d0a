package org.dmashare.iova.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.dmashare.InvalidArgumentException;
import org.dmashare.iova.IovaAllocator;
import org.dmashare.iova.IovaSpace;
import org.dmashare.memory.FailureInjector;
import org.junit.jupiter.api.Test;

/** A domain's published IOVA space reads through to its allocator and cannot be used to change it. */
class DomainIovasTest {
    private static final long G = 0x4000;

    private final IovaAllocator allocator = new IovaAllocator(G, 1L << 32, G, FailureInjector.none());
    private final IovaSpace view = DomainIovas.view(allocator);

    @Test
    void theViewReadsThroughToTheAllocator() {
        long a = allocator.allocate(4 * G, G);
        assertThat(view.start()).isEqualTo(G);
        assertThat(view.end()).isEqualTo(1L << 32);
        assertThat(view.granule()).isEqualTo(G);
        assertThat(view.liveRanges()).isEqualTo(1);
        assertThat(view.allocatedBytes()).isEqualTo(4 * G);
        assertThat(view.isFree(a, G)).isFalse();
        assertThat(view.snapshot()).isEqualTo(allocator.snapshot());
        assertThat(view.findFree(G, G, a)).isEqualTo(a - G);
        assertThat(view.liveRanges()).as("findFree allocates nothing").isEqualTo(1);
        allocator.free(a, 4 * G);
        assertThat(view.isFree(a, 4 * G)).isTrue();
    }

    @Test
    void theViewIsNotTheAllocatorSoACastCannotReachIt() {
        assertThat(view).isNotInstanceOf(IovaAllocator.class);
        assertThat(DomainIovas.allocator(view)).isSameAs(allocator);
    }

    @Test
    void anIovaSpaceTheCoreDidNotCreateIsRefusedNamingWhatADomainMustDo() {
        IovaSpace foreign = DomainIovas.view(new IovaAllocator(G, 1L << 20, G, FailureInjector.none()));
        IovaSpace wrapper = new IovaSpace() {
            @Override
            public long start() {
                return foreign.start();
            }

            @Override
            public long end() {
                return foreign.end();
            }

            @Override
            public long granule() {
                return foreign.granule();
            }

            @Override
            public boolean isFree(long iova, long size) {
                return foreign.isFree(iova, size);
            }

            @Override
            public long findFree(long size, long alignment, long limit) {
                return foreign.findFree(size, alignment, limit);
            }

            @Override
            public int liveRanges() {
                return foreign.liveRanges();
            }

            @Override
            public long allocatedBytes() {
                return foreign.allocatedBytes();
            }

            @Override
            public IovaAllocator.Snapshot snapshot() {
                return foreign.snapshot();
            }
        };
        assertThatThrownBy(() -> DomainIovas.allocator(wrapper))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("has no allocator the core can use")
                .hasMessageContaining("PagingDomain");
        assertThatThrownBy(() -> DomainIovas.allocator(null)).isInstanceOf(NullPointerException.class);
        assertThatThrownBy(() -> DomainIovas.view(null)).isInstanceOf(NullPointerException.class);
    }
}
