package org.dmashare.it.sharing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.dmashare.InvalidArgumentException;
import org.dmashare.ObjectClosedException;
import org.dmashare.UnsafeScatterListException;
import org.dmashare.iommu.DomainType;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Prot;
import org.dmashare.it.rig.Rig;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.sharing.PageLease;
import org.dmashare.sharing.ScatterList;
import org.dmashare.sharing.ShareOptions;
import org.dmashare.sharing.SharedBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Bad input gets its specific exception, with a message naming the problem, and changes nothing. */
class DmaSharingBadInputTest {

    record Case(String name, Class<? extends Throwable> expected, String messagePart, Action action) {
        @Override
        public String toString() {
            return name;
        }
    }

    interface Action {
        void run(Rig rig, Extras x) throws Throwable;
    }

    /** Objects a case needs that must exist before the state is captured. */
    record Extras(IommuDomain narrow, IommuDomain closed, IommuDomain foreign) {}

    static Stream<Arguments> cases() {
        List<Case> cases = new ArrayList<>(Arrays.asList(
                new Case(
                        "zero size",
                        InvalidArgumentException.class,
                        "must be positive",
                        (r, x) -> r.sharing.allocate(0, r.domains.subList(0, 2))),
                new Case(
                        "negative size",
                        InvalidArgumentException.class,
                        "must be positive",
                        (r, x) -> r.sharing.allocate(-4096, r.domains.subList(0, 2))),
                new Case(
                        "size that overflows when rounded up",
                        InvalidArgumentException.class,
                        "fit the memory",
                        (r, x) -> r.sharing.allocate(Long.MAX_VALUE, r.domains.subList(0, 2))),
                new Case(
                        "size beyond memory",
                        InvalidArgumentException.class,
                        "fit the memory",
                        (r, x) -> r.sharing.allocate(16L << 30, r.domains.subList(0, 2))),
                new Case(
                        "size beyond a 32-bit aperture",
                        InvalidArgumentException.class,
                        "IOVA space",
                        (r, x) -> r.sharing.allocate(6L << 30, List.of(x.narrow()))),
                new Case(
                        "no domains",
                        InvalidArgumentException.class,
                        "at least one domain",
                        (r, x) -> r.sharing.allocate(4096, List.of())),
                new Case(
                        "duplicate domain",
                        InvalidArgumentException.class,
                        "listed twice",
                        (r, x) -> r.sharing.allocate(4096, List.of(r.domain(0), r.domain(1), r.domain(0)))),
                new Case(
                        "closed domain",
                        ObjectClosedException.class,
                        "closed",
                        (r, x) -> r.sharing.allocate(4096, List.of(r.domain(0), x.closed()))),
                new Case(
                        "domain over different memory",
                        InvalidArgumentException.class,
                        "not to this helper's",
                        (r, x) -> r.sharing.allocate(4096, List.of(r.domain(0), x.foreign()))),
                new Case(
                        "blocked domain",
                        InvalidArgumentException.class,
                        "paging domains",
                        (r, x) -> r.sharing.allocate(
                                4096, List.of(r.domain(0).iommu().createDomain(DomainType.BLOCKED)))),
                new Case(
                        "null domain list",
                        NullPointerException.class,
                        "domains",
                        (r, x) -> r.sharing.allocate(4096, null)),
                new Case(
                        "null domain",
                        NullPointerException.class,
                        "domain",
                        (r, x) -> r.sharing.allocate(4096, Arrays.asList(r.domain(0), null))),
                new Case(
                        "null options",
                        NullPointerException.class,
                        "options",
                        (r, x) -> r.sharing.allocate(4096, r.domains.subList(0, 2), null)),
                new Case(
                        "non-power-of-two alignment",
                        InvalidArgumentException.class,
                        "power of two",
                        (r, x) -> r.sharing.allocate(
                                4096,
                                r.domains.subList(0, 2),
                                ShareOptions.builder().alignment(0x3000).build())),
                new Case(
                        "import of a segment outside memory",
                        UnsafeScatterListException.class,
                        "outside memory",
                        (r, x) -> {
                            try (PageLease lease = r.sharing.allocatePages(0x1_0000, 0)) {
                                r.sharing.importScatterList(
                                        lease,
                                        ScatterList.of(new ScatterList.Segment(0x1_0000, 0x1_0000)),
                                        r.domains.subList(0, 2),
                                        ShareOptions.DEFAULTS);
                            }
                        }),
                new Case(
                        "empty scatter list",
                        InvalidArgumentException.class,
                        "at least one segment",
                        (r, x) -> ScatterList.of(List.of())),
                new Case(
                        "segment of zero length",
                        InvalidArgumentException.class,
                        "positive length",
                        (r, x) -> new ScatterList.Segment(Rig.RAM_BASE, 0)),
                new Case(
                        "unaligned map",
                        InvalidArgumentException.class,
                        "aligned to the granule",
                        (r, x) -> r.domain(1).map(0x4_0000, Rig.RAM_BASE + 0x800, 0x1_0000, Prot.READ)),
                new Case(
                        "map outside the aperture",
                        InvalidArgumentException.class,
                        "aperture",
                        (r, x) -> r.domain(0).map(1L << 48, Rig.RAM_BASE, 0x1000, Prot.READ))));
        return Rig.pairs().flatMap(set -> cases.stream().map(c -> Arguments.of(c, set.get()[0])));
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("cases")
    void badInputIsRefusedPreciselyAndChangesNothing(Case c, String[] set) {
        Rig rig = new Rig(8L << 30, 4096, set);
        IommuDomain closed = rig.addDomain("lpae-4k", 48);
        closed.close();
        PhysicalMemory other = PhysicalMemory.create(Rig.RAM_BASE, 1L << 24, 4096);
        Extras extras = new Extras(
                rig.addDomain("lpae-4k", 32),
                closed,
                IommuBackends.find("generic")
                        .create(IommuConfig.of("lpae-4k"), other)
                        .createDomain());
        try (SharedBuffer unrelated = rig.sharing.allocate(0x8000, rig.domains.subList(0, 2))) {
            Rig.State before = rig.state();
            ThrowingCallable call = () -> c.action().run(rig, extras);
            assertThatThrownBy(call).isExactlyInstanceOf(c.expected()).hasMessageContaining(c.messagePart());
            assertThat(rig.state()).isEqualTo(before);
            assertThat(rig.sharing.liveBuffers()).isEqualTo(1);
        }
    }

    @Test
    void closedBufferRefusesUseButAllowsClose() {
        Rig rig = new Rig("lpae-4k", "lpae-16k");
        ShareOptions opts = ShareOptions.builder().futureGranule(0x4000).build();
        SharedBuffer b = rig.sharing.allocate(0x4000, List.of(rig.domain(0)), opts);
        b.close();
        assertThatThrownBy(() -> b.shareWith(rig.domain(1))).isInstanceOf(ObjectClosedException.class);
        assertThatThrownBy(() -> b.unshare(rig.domain(0))).isInstanceOf(ObjectClosedException.class);
        assertThatThrownBy(() -> b.write(0, new byte[1])).isInstanceOf(ObjectClosedException.class);
        assertThatThrownBy(() -> b.read(0, 1)).isInstanceOf(ObjectClosedException.class);
        b.close();
    }

    @Test
    void sharingTwiceWithTheSameDomainIsRefused() {
        Rig rig = new Rig("lpae-4k");
        try (SharedBuffer b = rig.sharing.allocate(0x1000, rig.domains)) {
            Rig.State before = rig.state();
            assertThatThrownBy(() -> b.shareWith(rig.domain(0)))
                    .isInstanceOf(InvalidArgumentException.class)
                    .hasMessageContaining("already mapped");
            assertThat(rig.state()).isEqualTo(before);
        }
    }

    @Test
    void cpuAccessOutsideTheBufferIsRefused() {
        Rig rig = new Rig("lpae-4k");
        try (SharedBuffer b = rig.sharing.allocate(0x1000, rig.domains)) {
            assertThatThrownBy(() -> b.write(0xfff, new byte[2]))
                    .isInstanceOf(InvalidArgumentException.class)
                    .hasMessageContaining("outside the buffer");
            assertThatThrownBy(() -> b.read(-1, 1)).isInstanceOf(InvalidArgumentException.class);
        }
    }
}
