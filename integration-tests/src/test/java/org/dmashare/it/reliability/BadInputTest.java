package org.dmashare.it.reliability;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.assertj.core.api.Assertions;
import org.dmashare.DmaShareException;
import org.dmashare.GranuleMismatchException;
import org.dmashare.InvalidArgumentException;
import org.dmashare.IovaSpaceExhaustedException;
import org.dmashare.MappingConflictException;
import org.dmashare.ObjectClosedException;
import org.dmashare.PhysicalMemoryExhaustedException;
import org.dmashare.dart.DartBackend;
import org.dmashare.dart.DartDump;
import org.dmashare.dart.DartIommu;
import org.dmashare.dmaapi.IommuDma;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Prot;
import org.dmashare.it.rig.Rig;
import org.dmashare.memory.FailureInjector;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.sharing.PageLease;
import org.dmashare.sharing.ScatterList;
import org.dmashare.sharing.ShareOptions;
import org.dmashare.sharing.SharedBuffer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Bad input, table-driven, across the public API beyond the helper (memory, allocator, failure
 * injector, domains, devices, configuration, backends, DART dumps and restore, the DMA-API model's
 * builder): every case gets its specific exception type with a message naming the problem, and
 * changes nothing. The helper's own table is {@code sharing.DmaSharingBadInputTest}; the command
 * line's is {@code org.dmashare.examples.cli.DmashareCommandBadInputTest} in the examples module.
 */
class BadInputTest {
    private static int apiCases;

    /** A rig with a live buffer, a closed domain, a domain over other memory and a DART dump. */
    static final class Fixture {
        final Rig rig = new Rig(64L << 20, 4096, "lpae-4k", "apple-dart:t8020", "flat:flat-64k");
        final SharedBuffer buffer = rig.sharing.allocate(0x8000, rig.domains.subList(0, 2));
        final IommuDomain closed;
        final IommuDomain foreign;
        final DartIommu dart = (DartIommu) rig.domain(1).iommu();
        final DartDump dump = dart.dump();
        final long freeBlock;
        final PageLease lease;

        Fixture() {
            closed = rig.addDomain("lpae-4k", 48);
            closed.close();
            foreign = IommuBackends.find("generic")
                    .create(IommuConfig.of("lpae-4k"), PhysicalMemory.create(Rig.RAM_BASE, 1L << 24, 4096))
                    .createDomain();
            long pa = rig.memory.allocator().allocate(0x1_0000, PageUse.BUFFER);
            rig.memory.allocator().free(pa, 0x1_0000);
            freeBlock = pa;
            lease = rig.sharing.allocatePages(0x1_0000, 0x1_0000);
        }

        /** Everything a refused call must leave as it was. */
        List<Object> state() {
            return List.of(
                    rig.state(),
                    rig.sharing.liveBuffers(),
                    buffer.mappings(),
                    HexFormat.of().formatHex(buffer.read(0, 0x8000)),
                    dart.dump().toJson(),
                    rig.memory.touchedBytes(),
                    rig.memory.failures().toString(),
                    rig.domains.stream().map(d -> d.iommu().faults().size()).toList());
        }
    }

    record Case(String name, Class<? extends Throwable> expected, String messagePart, Action action) {
        @Override
        public String toString() {
            return name;
        }
    }

    interface Action {
        void run(Fixture f) throws Throwable;
    }

    static Stream<Case> apiCases() {
        return Stream.of(
                // memory and its allocator
                new Case(
                        "memory base not page-aligned",
                        InvalidArgumentException.class,
                        "",
                        f -> PhysicalMemory.create(Rig.RAM_BASE + 0x800, 1L << 20, 4096)),
                new Case(
                        "memory of zero bytes",
                        InvalidArgumentException.class,
                        "",
                        f -> PhysicalMemory.create(Rig.RAM_BASE, 0, 4096)),
                new Case(
                        "memory above 2^42 bytes",
                        InvalidArgumentException.class,
                        "",
                        f -> PhysicalMemory.create(Rig.RAM_BASE, 1L << 43, 4096)),
                new Case(
                        "CPU page size 8 KiB",
                        InvalidArgumentException.class,
                        "",
                        f -> PhysicalMemory.create(Rig.RAM_BASE, 1L << 20, 8192)),
                new Case(
                        "read outside memory",
                        InvalidArgumentException.class,
                        "outside",
                        f -> f.rig.memory.read(Rig.RAM_BASE - 8, 8)),
                new Case(
                        "misaligned readLong",
                        InvalidArgumentException.class,
                        "",
                        f -> f.rig.memory.readLong(Rig.RAM_BASE + 3)),
                new Case(
                        "write past the end of memory",
                        InvalidArgumentException.class,
                        "outside",
                        f -> f.rig.memory.write(f.rig.memory.end() - 2, new byte[4])),
                new Case(
                        "allocate a non-power-of-two size",
                        InvalidArgumentException.class,
                        "power of two",
                        f -> f.rig.memory.allocator().allocate(0x3000, PageUse.BUFFER)),
                new Case(
                        "allocate below the page size",
                        InvalidArgumentException.class,
                        "",
                        f -> f.rig.memory.allocator().allocate(0x800, PageUse.BUFFER)),
                new Case(
                        "allocate more than memory",
                        PhysicalMemoryExhaustedException.class,
                        "",
                        f -> f.rig.memory.allocator().allocate(128L << 20, PageUse.BUFFER)),
                new Case(
                        "free a block that is not allocated",
                        InvalidArgumentException.class,
                        "",
                        f -> f.rig.memory.allocator().free(f.freeBlock, 0x1_0000)),
                new Case(
                        "free a live block with the wrong size",
                        InvalidArgumentException.class,
                        "",
                        f -> f.rig.memory
                                .allocator()
                                .free(f.buffer.blocks().segments().get(0).pa(), 0x1000)),
                new Case(
                        "failNth(0)",
                        InvalidArgumentException.class,
                        "n >= 1",
                        f -> f.rig.memory.failures().failNth(FailureInjector.Point.MAP, 0)),
                // domains and devices
                new Case(
                        "map over a live mapping",
                        MappingConflictException.class,
                        "",
                        f -> f.rig.domain(0).map(f.buffer.iova(f.rig.domain(0)), f.freeBlock, 0x1000, Prot.READ)),
                new Case(
                        "map without read or write",
                        InvalidArgumentException.class,
                        "",
                        f -> f.rig.domain(0)
                                .map(0x1000_0000L, f.freeBlock, 0x1000, new Prot(false, false, false, false))),
                new Case(
                        "map of a physical range outside memory",
                        InvalidArgumentException.class,
                        "",
                        f -> f.rig.domain(0).map(0x1000_0000L, Rig.RAM_BASE + (1L << 30), 0x1000, Prot.READ)),
                new Case(
                        "map of zero bytes",
                        InvalidArgumentException.class,
                        "",
                        f -> f.rig.domain(0).map(0x1000_0000L, f.freeBlock, 0, Prot.READ)),
                new Case(
                        "unmap starting inside a page",
                        InvalidArgumentException.class,
                        "",
                        f -> f.rig.domain(1).unmap(f.buffer.iova(f.rig.domain(1)) + 0x1000, 0x4000)),
                new Case(
                        "unmap not aligned to the granule",
                        InvalidArgumentException.class,
                        "",
                        f -> f.rig.domain(1).unmap(f.buffer.iova(f.rig.domain(1)), 0x1000)),
                new Case(
                        "map into a closed domain",
                        ObjectClosedException.class,
                        "closed",
                        f -> f.closed.map(0x1000_0000L, f.freeBlock, 0x1000, Prot.READ)),
                new Case(
                        "attach to another unit's domain",
                        InvalidArgumentException.class,
                        "",
                        f -> Rig.device(f.rig.domain(0)).attach(f.rig.domain(1))),
                new Case(
                        "attach to a closed domain",
                        ObjectClosedException.class,
                        "",
                        f -> f.closed.iommu().device(1).attach(f.closed)),
                new Case(
                        "device of a stream out of range",
                        InvalidArgumentException.class,
                        "",
                        f -> f.rig.domain(0).iommu().device(1 << 20)),
                new Case(
                        "DMA of a negative length",
                        InvalidArgumentException.class,
                        "negative",
                        f -> Rig.device(f.rig.domain(0)).read(f.buffer.iova(f.rig.domain(0)), -1)),
                new Case(
                        "DMA slice outside its array",
                        InvalidArgumentException.class,
                        "",
                        f -> Rig.device(f.rig.domain(0)).write(f.buffer.iova(f.rig.domain(0)), new byte[4], 2, 4)),
                new Case(
                        "walk of a stream out of range",
                        InvalidArgumentException.class,
                        "",
                        f -> f.rig.domain(0).iommu().walk(-1, 0)),
                // the helper's buffers
                new Case(
                        "late share into a larger granule",
                        GranuleMismatchException.class,
                        "granule",
                        f -> f.buffer.shareWith(f.rig.domain(2))),
                new Case(
                        "late share into a domain over other memory",
                        InvalidArgumentException.class,
                        "",
                        f -> f.buffer.shareWith(f.foreign)),
                new Case(
                        "late share into a closed domain",
                        ObjectClosedException.class,
                        "closed",
                        f -> f.buffer.shareWith(f.closed)),
                new Case(
                        "unshare from a domain it is not in",
                        InvalidArgumentException.class,
                        "not mapped",
                        f -> f.buffer.unshare(f.rig.domain(2))),
                new Case("CPU write of null", NullPointerException.class, "data", f -> f.buffer.write(0, null)),
                new Case(
                        "CPU read past the end",
                        InvalidArgumentException.class,
                        "outside the buffer",
                        f -> f.buffer.read(0x8000, 1)),
                new Case(
                        "physical address past the end",
                        InvalidArgumentException.class,
                        "",
                        f -> f.buffer.physicalAddress(0x8000)),
                new Case(
                        "negative alignment option",
                        InvalidArgumentException.class,
                        "",
                        f -> ShareOptions.builder().alignment(-4096).build()),
                new Case(
                        "future granule not a power of two",
                        InvalidArgumentException.class,
                        "",
                        f -> ShareOptions.builder().futureGranule(0x3000).build()),
                new Case(
                        "null rights",
                        NullPointerException.class,
                        "",
                        f -> ShareOptions.builder().prot(null).build()),
                new Case(
                        "scatter segment of negative length",
                        InvalidArgumentException.class,
                        "",
                        f -> new ScatterList.Segment(Rig.RAM_BASE, -1)),
                new Case(
                        "import of a null list",
                        NullPointerException.class,
                        "list",
                        f -> f.rig.sharing.importScatterList(
                                f.lease, null, f.rig.domains.subList(0, 1), ShareOptions.DEFAULTS)),
                new Case(
                        "import into a closed domain",
                        ObjectClosedException.class,
                        "closed",
                        f -> f.rig.sharing.importScatterList(
                                f.lease, f.lease.pages(), List.of(f.closed), ShareOptions.DEFAULTS)),
                // configuration and backends
                new Case("unknown backend", InvalidArgumentException.class, "nope", f -> IommuBackends.find("nope")),
                new Case(
                        "unknown generic variant",
                        InvalidArgumentException.class,
                        "lpae-99k",
                        f -> IommuBackends.find("generic").create(IommuConfig.of("lpae-99k"), f.rig.memory)),
                new Case(
                        "negative stream count",
                        InvalidArgumentException.class,
                        "",
                        f -> IommuConfig.builder("lpae-4k").streams(-1).build()),
                new Case(
                        "blank unit name",
                        InvalidArgumentException.class,
                        "",
                        f -> IommuConfig.builder("lpae-4k").name(" ").build()),
                new Case(
                        "generic input size out of range",
                        InvalidArgumentException.class,
                        "",
                        f -> IommuBackends.find("generic")
                                .create(
                                        IommuConfig.builder("lpae-4k")
                                                .inputBits(99)
                                                .build(),
                                        f.rig.memory)),
                new Case(
                        "DART option locked=maybe",
                        InvalidArgumentException.class,
                        "",
                        f -> IommuBackends.find("apple-dart")
                                .create(
                                        IommuConfig.builder("t8020")
                                                .option("locked", "maybe")
                                                .build(),
                                        f.rig.memory)),
                new Case(
                        "unknown DART option",
                        InvalidArgumentException.class,
                        "",
                        f -> IommuBackends.find("apple-dart")
                                .create(
                                        IommuConfig.builder("t8020")
                                                .option("turbo", "true")
                                                .build(),
                                        f.rig.memory)),
                new Case(
                        "DART dump of an unknown variant",
                        InvalidArgumentException.class,
                        "",
                        f -> new DartDump("t9999", Map.of(), Map.of(), Map.of())),
                new Case(
                        "DART dump page not 16 KiB",
                        InvalidArgumentException.class,
                        "16 KiB",
                        f -> new DartDump("t8020", Map.of(), Map.of(), Map.of(Rig.RAM_BASE, new byte[4096]))),
                new Case(
                        "DART dump JSON truncated",
                        InvalidArgumentException.class,
                        "",
                        f -> DartDump.fromJson("{\"variant\": \"t8020\", \"ttbr\": {")),
                new Case(
                        "restore a dump into another variant",
                        InvalidArgumentException.class,
                        "",
                        f -> new DartBackend().restore(f.dump, IommuConfig.of("t6000"), f.rig.memory)),
                new Case(
                        "restore a dump over a live buffer",
                        PhysicalMemoryExhaustedException.class,
                        "",
                        f -> new DartBackend()
                                .restore(
                                        new DartDump(
                                                "t8020",
                                                Map.of(0, List.of(0L, 0L, 0L, 0L)),
                                                Map.of(0, 0x80L),
                                                Map.of(
                                                        f.buffer
                                                                .blocks()
                                                                .segments()
                                                                .get(0)
                                                                .pa(),
                                                        new byte[0x4000])),
                                        IommuConfig.of("t8020"),
                                        f.rig.memory)),
                new Case(
                        "restore a dump with five TTBRs per stream",
                        InvalidArgumentException.class,
                        "",
                        f -> new DartBackend()
                                .restore(
                                        new DartDump(
                                                "t8020",
                                                Map.of(0, List.of(0L, 0L, 0L, 0L, 0L)),
                                                Map.of(0, 0L),
                                                Map.of()),
                                        IommuConfig.of("t8020"),
                                        f.rig.memory)),
                // the DMA-API model
                new Case(
                        "DMA-API CMA area misaligned",
                        InvalidArgumentException.class,
                        "",
                        f -> IommuDma.builder(f.rig.memory)
                                .cmaArea(Rig.RAM_BASE + 0x123, 1L << 20)
                                .build()),
                new Case(
                        "DMA-API negative atomic pool",
                        InvalidArgumentException.class,
                        "",
                        f -> IommuDma.builder(f.rig.memory).atomicPoolSize(-1).build()));
    }

    static Stream<Arguments> apiCaseArguments() {
        return apiCases().map(Arguments::of);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("apiCaseArguments")
    void badApiInputGetsItsSpecificExceptionAndChangesNothing(Case c) {
        Fixture f = new Fixture();
        List<Object> before = f.state();
        Throwable thrown = null;
        try {
            c.action().run(f);
        } catch (Throwable t) {
            thrown = t;
        }
        assertThat(thrown).as(c.name()).isNotNull();
        assertThat(thrown).as("%s: %s", c.name(), thrown).isExactlyInstanceOf(c.expected());
        assertThat(thrown.getMessage()).as(c.name()).isNotBlank().contains(c.messagePart());
        if (thrown instanceof DmaShareException) {
            assertThat(thrown.getMessage()).as("%s: one line", c.name()).doesNotContain("\n");
        }
        f.rig.domains.forEach(d -> d.iommu().clearFaults());
        assertThat(f.state()).as("%s changes nothing", c.name()).isEqualTo(before);
        apiCases++;
    }

    /** Running out of IOVA space or of physical memory is refused with its own type and changes nothing. */
    @Test
    void exhaustionIsRefusedSpecificallyAndChangesNothing() {
        Rig rig = new Rig(1L << 30, 4096, "flat:flat-64k", "lpae-4k");
        SharedBuffer big = rig.sharing.allocate(0x1000_0000L, rig.domains); // half of flat's 512 MiB aperture
        Rig.State before = rig.state();
        Assertions.assertThatThrownBy(() -> rig.sharing.allocate(0x1000_0000L, rig.domains))
                .isExactlyInstanceOf(IovaSpaceExhaustedException.class);
        assertThat(rig.state()).isEqualTo(before);
        SharedBuffer more = rig.sharing.allocate(0x1000_0000L, List.of(rig.domain(1)));
        SharedBuffer most = rig.sharing.allocate(0x1000_0000L, List.of(rig.domain(1)));
        Rig.State full = rig.state();
        Assertions.assertThatThrownBy(() -> rig.sharing.allocate(0x1000_0000L, List.of(rig.domain(1))))
                .isExactlyInstanceOf(PhysicalMemoryExhaustedException.class)
                .hasMessageContaining("cannot allocate");
        assertThat(rig.state()).isEqualTo(full);
        most.close();
        more.close();
        big.close();
        assertThat(rig.sharing.liveBuffers()).isZero();
        apiCases += 2;
    }

    @AfterAll
    static void summary() {
        Campaign.summary("bad input", "%d API cases, each refused specifically and changing nothing", apiCases);
    }
}
