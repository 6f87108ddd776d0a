package org.dmashare.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.dmashare.testkit.DmaShareAssertions.assertThat;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.dmashare.GranuleMismatchException;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.MappingConflictException;
import org.dmashare.ObjectClosedException;
import org.dmashare.UnsafeScatterListException;
import org.dmashare.iommu.Access;
import org.dmashare.iommu.DeviceFaultException;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.DomainType;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackend;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.Prot;
import org.dmashare.iommu.Translation;
import org.dmashare.memory.FailureInjector;
import org.dmashare.memory.PageAllocator;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.pgtable.UnmapPolicy;
import org.dmashare.sharing.DmaSharing;
import org.dmashare.sharing.PageLease;
import org.dmashare.sharing.ScatterList;
import org.dmashare.sharing.ShareOptions;
import org.dmashare.sharing.SharedBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The conformance kit for {@link IommuBackend} implementations: extend it in a test class, supply
 * {@link #createIommu(PhysicalMemory, int)} and {@link #capabilities()}, and JUnit runs every
 * contract check of the SPI against the backend — map, unmap and iova-to-phys semantics, conflict
 * and partial-unmap refusal, aperture limits, protection, the fault log, the stale-until-flush
 * IOTLB, table pages taken from and returned to {@link PhysicalMemory}, disjoint maps from several
 * threads, and the sharing helper's guarantees on the backend alone and mixed with the
 * {@code generic} backend.
 *
 * <p>Each check's name is the rule it checks; the checks are grouped by topic in the source, but
 * declared flat (not in {@code @Nested} classes) so that build reports list them under the
 * subclass that runs them. A failing check
 * says which rule broke and what the backend did, prefixed with the kit subclass and the unit
 * under test; an unexpected exception from the backend fails the check naming it.
 *
 * <p>A check about an optional capability checks whichever contract the {@link Capabilities}
 * select, so it runs, and can fail, either way: where the capability is declared, that the backend
 * has it; where it is not, that the backend behaves as one without it — a unit without bypass
 * refuses identity domains, a format without write-only mappings refuses {@code Prot.WRITE}, a
 * backend without block mappings maps even a block-sized aligned range with granule pages and lets
 * one granule of it be unmapped, and one without sub-page protection gives no leaf a sub-page
 * window. Only two checks need what a declaration alone provides and are aborted through JUnit
 * {@link Assumptions}, reported as skipped with the message "capability X not declared": stream
 * isolation and sharing with fewer than two streams, and the reclaim of emptied tables by a
 * backend that frees them only on close.
 *
 * <p>Translations are always read as a device reads them: through
 * {@link Iommu#walk(int, long)} over the tables in memory, for a stream attached to the domain;
 * {@link IommuDomain#iovaToPhys(long)} is itself checked against that walk.
 *
 * <p>The checks that mix the backend with the generic one get their partner unit from
 * {@link #createPartnerIommu(PhysicalMemory, String)}, which by default finds the {@code generic}
 * backend with {@link IommuBackends} (so {@code dmashare-generic-backend} must be on the test
 * class path, usually as a test dependency); if it is absent those checks fail with "kit setup:
 * partner backend 'generic' not on the test class path", as checks fail whose memory or aperture
 * is too small for them: a setup the subclass must fix is not a rule that does not apply.
 *
 * <p>Designed for extension: one instance runs one check, with a fresh memory and a fresh unit.
 */
@ExtendWith(KitFailureReporter.class)
public abstract class IommuBackendConformanceKit {

    /** The memory of the current check, from {@link #createMemory()}. */
    private PhysicalMemory memory;
    /** The unit under test of the current check. */
    private Iommu iommu;
    private Capabilities caps;
    private final Deque<AutoCloseable> cleanup = new ArrayDeque<>();

    /** Creates the kit; subclasses are instantiated by JUnit. */
    protected IommuBackendConformanceKit() {
    }

    /**
     * Creates one unit of the backend under test over {@code memory}, every stream blocked. Called
     * once per check, and again by checks that need a second unit of the same backend.
     *
     * @param memory the memory it translates to and takes its table pages from
     * @param streams the number of streams it must have ({@link Capabilities#streams()})
     * @return a new unit
     */
    protected abstract Iommu createIommu(PhysicalMemory memory, int streams);

    /**
     * What the backend declares. Called once per check.
     *
     * @return the capabilities of the units {@link #createIommu} creates
     */
    protected abstract Capabilities capabilities();

    /**
     * The memory each check runs over. Default: 1 GiB at {@code 0x8_0000_0000} with 4 KiB CPU
     * pages. Override if the backend's output size cannot reach it.
     *
     * @return a fresh memory
     */
    protected PhysicalMemory createMemory() {
        return PhysicalMemory.create(0x8_0000_0000L, 1L << 30, 4096);
    }

    /**
     * A unit of another backend for the checks that mix backends. Default: a unit of the
     * {@code generic} backend found with {@link IommuBackends}; the check fails, saying so, if it is
     * not on the class path.
     *
     * @param memory the same memory as the unit under test
     * @param variant {@code lpae-4k} or {@code lpae-64k}: the granule the check needs
     * @return the partner unit
     */
    protected Iommu createPartnerIommu(PhysicalMemory memory, String variant) {
        Optional<IommuBackend> generic = IommuBackends.available().stream()
                .filter(b -> b.name().equals("generic")).findFirst();
        requireSetup(generic.isPresent(), "partner backend 'generic' not on the test class path: add"
                + " dmashare-generic-backend as a test dependency or override createPartnerIommu");
        return generic.get().create(IommuConfig.builder(variant).name("partner-" + variant).streams(2).build(), memory);
    }

    // ---- per-check state ----

    @BeforeEach
    void kitSetUp(TestInfo info) {
        caps = Objects.requireNonNull(capabilities(), "capabilities()");
        memory = Objects.requireNonNull(createMemory(), "createMemory()");
        iommu = Objects.requireNonNull(createIommu(memory, caps.streams()), "createIommu()");
        setupProblem = setupProblem();
        boolean setupCheck = info.getTestMethod().map(m -> m.getName().equals(SETUP_CHECK)).orElse(false);
        // One clear failure (the setup check) instead of every rule failing for the same reason.
        Assumptions.assumeTrue(setupProblem == null || setupCheck, "kit setup is broken; see " + SETUP_CHECK);
    }

    /** The check that reports a broken setup; every other check is skipped while it fails. */
    private static final String SETUP_CHECK = "theKitsMemoryIsReachableAndTheUnitsInputWidthMatchesItsDomains";
    /** Why the setup cannot work, or null. */
    private String setupProblem;

    @Test
    void theKitsMemoryIsReachableAndTheUnitsInputWidthMatchesItsDomains() {
        if (setupProblem != null) {
            throw new AssertionError("kit setup: " + setupProblem);
        }
    }

    /**
     * Memory the unit's output width cannot reach, or a unit whose input width disagrees with its
     * paging domains' aperture, make every rule fail for one reason: name it once.
     */
    private String setupProblem() {
        int oas = iommu.outputBits();
        if (oas < 64 && ((memory.end() - 1) >>> oas) != 0) {
            return "memory " + Hex.range(memory.base(), memory.size()) + " reaches beyond the unit's " + oas
                    + "-bit output width (" + Hex.of(1L << oas) + " and above are unreachable): override"
                    + " createMemory() to place it below " + Hex.of(1L << oas);
        }
        IommuDomain d;
        try {
            d = iommu.createDomain();
        } catch (RuntimeException e) {
            return null; // the domain checks report it
        }
        try {
            long end = d.apertureEnd();
            int bits = 64 - Long.numberOfLeadingZeros(end - 1);
            int ias = iommu.inputBits();
            if (bits != ias) {
                return "the unit reports a " + ias + "-bit input width but its paging domains' aperture ends at "
                        + Hex.of(end) + ", a " + bits + "-bit IOVA space: the unit's inputBits() and its domains must"
                        + " agree";
            }
            return null;
        } finally {
            d.close();
        }
    }

    @AfterEach
    void kitTearDown() throws Exception {
        memory.failures().clear();
        Exception first = null;
        while (!cleanup.isEmpty()) {
            try {
                cleanup.pop().close();
            } catch (Exception e) {
                if (first == null) {
                    first = e;
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    /**
     * The memory of the running check.
     *
     * @return the memory
     */
    protected final PhysicalMemory memory() {
        return memory;
    }

    /**
     * The unit under test of the running check.
     *
     * @return the unit
     */
    protected final Iommu iommu() {
        return iommu;
    }

    private <T extends AutoCloseable> T closeLater(T resource) {
        cleanup.push(resource);
        return resource;
    }

    private IommuDomain domain(Iommu unit) {
        return closeLater(unit.createDomain());
    }

    /** A paging domain of the unit under test with stream {@code sid} attached. */
    private IommuDomain attachedDomain(int sid) {
        IommuDomain d = domain(iommu);
        iommu.device(sid).attach(d);
        return d;
    }

    private Iommu secondUnit() {
        return createIommu(memory, caps.streams());
    }

    /** Allocates {@code size} bytes (a power of two) of buffer pages, freed after the check. */
    private long pages(long size) {
        long alloc = Math.max(size, memory.pageSize());
        long pa = memory.allocator().allocate(alloc, PageUse.BUFFER);
        cleanup.push(() -> memory.allocator().free(pa, alloc));
        return pa;
    }

    /** Pages the kit may lend for import: one block of {@code size} aligned to {@code alignment}, closed after the test. */
    private PageLease lease(long size, long alignment) {
        PageLease lease = sharing.allocatePages(size, alignment);
        cleanup.push(lease::close);
        return lease;
    }

    private long granule() {
        return caps.granule();
    }

    /** A granule-aligned IOVA, aligned to {@code align}, inside the aperture and above 0. */
    private static long iovaBase(IommuDomain d, long align) {
        long start = Math.max(d.apertureStart(), align);
        return (start + align - 1) & -align;
    }

    private static String rule(String rule) {
        return "rule '" + rule + "'";
    }

    /**
     * Fails a check whose setup the subclass cannot give it (a missing partner backend, memory or
     * an aperture too small): a setup problem is the author's to fix, not a rule that does not
     * apply, so it is not reported as skipped.
     */
    private static void requireSetup(boolean ok, String problem) {
        if (!ok) {
            throw new AssertionError("kit setup: " + problem);
        }
    }

    private static void requireCapability(boolean declared, String capability) {
        Assumptions.assumeTrue(declared, "capability " + capability + " not declared");
    }

    @FunctionalInterface
    private interface Action {
        Object run() throws Exception;
    }

    /**
     * Runs {@code action}, which must throw {@code expected}; otherwise fails naming the rule and
     * what the backend did instead.
     */
    private static <E extends Throwable> E refuses(String rule, Class<E> expected, String call, Action action) {
        Object result;
        try {
            result = action.run();
        } catch (Throwable t) {
            if (expected.isInstance(t)) {
                return expected.cast(t);
            }
            throw new AssertionError(rule(rule) + " broken: " + call + " should throw " + expected.getSimpleName()
                    + " but the backend threw " + t, t);
        }
        throw new AssertionError(rule(rule) + " broken: " + call + " should throw " + expected.getSimpleName()
                + " but the backend " + (result == null ? "completed normally" : "returned " + describe(result)));
    }

    /** A call's result for a message: longs in hex, byte arrays as their bytes, never {@code [B@...}. */
    static String describe(Object o) {
        if (o instanceof Long) {
            return Hex.of((Long) o);
        }
        if (o instanceof byte[]) {
            byte[] b = (byte[]) o;
            StringBuilder out = new StringBuilder(b.length + " bytes [");
            for (int i = 0; i < Math.min(b.length, 16); i++) {
                out.append(i == 0 ? "" : " ").append(String.format("%02x", b[i] & 0xff));
            }
            return out.append(b.length > 16 ? " ...]" : "]").toString();
        }
        return String.valueOf(o);
    }

    /** Everything a refused call must leave unchanged: page allocator and walks of some IOVAs. */
    private record State(List<PageAllocator.Block> blocks, List<Optional<Translation>> walks) {
    }

    private State state(int sid, long... iovas) {
        List<Optional<Translation>> walks = new ArrayList<>();
        for (long iova : iovas) {
            walks.add(iommu.walk(sid, iova));
        }
        return new State(memory.allocator().allocatedBlocks(), walks);
    }

    private void unchanged(String rule, String call, State before, int sid, long... iovas) {
        State after = state(sid, iovas);
        assertThat(after.blocks()).as(rule(rule) + " broken: " + call
                + " was refused but changed the page allocator's live blocks").isEqualTo(before.blocks());
        for (int i = 0; i < iovas.length; i++) {
            assertThat(after.walks().get(i)).as(rule(rule) + " broken: " + call
                    + " was refused but changed what the hardware walk finds at IOVA " + Hex.of(iovas[i]))
                    .isEqualTo(before.walks().get(i));
        }
    }

    private static DeviceFaultException faults(String rule, String what, Action access) {
        return refuses(rule, DeviceFaultException.class, what, access);
    }

    private void expectFault(String rule, DeviceFaultException e, int sid, long iova, Access access,
            IommuFault.Reason reason) {
        IommuFault f = e.fault();
        assertThat(f.reason()).as(rule(rule) + " broken: the fault for " + access + " at " + Hex.of(iova)
                + " has the wrong reason: " + f).isEqualTo(reason);
        assertThat(f.streamId()).as(rule(rule) + " broken: wrong stream in " + f).isEqualTo(sid);
        assertThat(f.iova()).as(rule(rule) + " broken: wrong IOVA in " + f).isEqualTo(iova);
        assertThat(f.access()).as(rule(rule) + " broken: wrong access in " + f).isEqualTo(access);
        List<IommuFault> log = iommu.faults();
        assertThat(log).as(rule(rule) + " broken: the fault thrown to the device (" + f
                + ") is not the last entry of the fault log " + log).isNotEmpty();
        assertThat(log.get(log.size() - 1)).as(rule(rule) + " broken: the last fault logged differs from the one"
                + " thrown").isEqualTo(f);
    }

    private static byte[] pattern(int length, int seed) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = (byte) (i * 31 + seed);
        }
        return b;
    }

    // =====================================================================================
    // Declaration
    // =====================================================================================

    // The unit and its domains report what the backend declares.
    @Test
    void domainsReportTheDeclaredGranuleAndPageSizes() {
        IommuDomain d = domain(iommu);
        assertThat(d.type()).as(rule("createDomain() makes a paging domain")).isEqualTo(DomainType.PAGING);
        assertThat(d.granule()).as(rule("a domain reports the declared granule") + ": the backend reports "
                + Hex.size(d.granule())).isEqualTo(granule());
        assertThat(Hex.of(d.pageSizes())).as(rule("a domain reports the declared page-size bitmap"))
                .isEqualTo(Hex.of(caps.pageSizes()));
        assertThat(iommu.variant().granule()).as(rule("the variant's granule is the domains' granule"))
                .isEqualTo(granule());
    }

    @Test
    void unitHasTheRequestedStreamsAndReturnsOneDevicePerStream() {
        assertThat(iommu.streamCount()).as(rule("the unit has the streams asked for")).isEqualTo(caps.streams());
        for (int sid = 0; sid < caps.streams(); sid++) {
            DmaDevice dev = iommu.device(sid);
            assertThat(dev.streamId()).as(rule("device(sid) sits behind stream sid")).isEqualTo(sid);
            assertThat(iommu.device(sid)).as(rule("device(sid) returns the same object each time")).isSameAs(dev);
            assertThat(dev.iommu()).as(rule("a device belongs to its unit")).isSameAs(iommu);
            assertThat(dev.domain()).as(rule("a new unit has every stream blocked") + ": stream " + sid
                    + " is attached to " + dev.domain()).isEmpty();
        }
        refuses("out-of-range stream IDs are refused", InvalidArgumentException.class, "device(-1)",
                () -> iommu.device(-1));
        refuses("out-of-range stream IDs are refused", InvalidArgumentException.class,
                "device(" + caps.streams() + ")", () -> iommu.device(caps.streams()));
        refuses("out-of-range stream IDs are refused", InvalidArgumentException.class,
                "walk(" + caps.streams() + ", 0)", () -> iommu.walk(caps.streams(), 0));
    }

    @Test
    void newUnitHasAnEmptyFaultLogAndIotlb() {
        assertThat(iommu.faults()).as(rule("a new unit has an empty fault log")).isEmpty();
        assertThat(iommu.iotlbSize()).as(rule("a new unit has an empty IOTLB")).isZero();
        assertThat(iommu.memory()).as(rule("a unit translates to the memory it was created over")).isSameAs(memory);
    }

    // =====================================================================================
    // map / iova-to-phys
    // =====================================================================================

    // map and iova-to-phys semantics.
    @Test
    void mapTranslatesEveryGranuleToItsPhysicalAddress() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long pa = pages(4 * g);
        long iova = iovaBase(d, g) + 3 * g;
        d.map(iova, pa + g, 3 * g, Prot.READ_WRITE);
        for (long o = 0; o < 3 * g; o += g / 2) {
            assertThat(d).as(rule("map makes every byte translate to its physical address")
                    + ": map(" + Hex.of(iova) + ", " + Hex.of(pa + g) + ", " + Hex.size(3 * g) + ")")
                    .translates(iova + o).to(pa + g + o);
        }
        assertThat(d).as(rule("map touches nothing outside its range")).doesNotTranslate(iova - g)
                .doesNotTranslate(iova + 3 * g);
    }

    @Test
    void iovaToPhysAgreesWithTheHardwareWalk() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long pa = pages(2 * g);
        long iova = iovaBase(d, g);
        d.map(iova, pa, 2 * g, Prot.READ_WRITE);
        for (long at : new long[] {iova - g, iova, iova + 123, iova + g + g / 2, iova + 2 * g}) {
            if (at < d.apertureStart()) {
                continue;
            }
            long sw = d.iovaToPhys(at);
            long hw = iommu.walk(0, at).map(Translation::pa).orElse(IommuDomain.NO_TRANSLATION);
            assertThat(sw).as(rule("iovaToPhys agrees with the hardware walk") + ": at IOVA " + Hex.of(at)
                    + " iovaToPhys says " + Hex.of(sw) + ", the walk says " + Hex.of(hw)).isEqualTo(hw);
        }
    }

    @Test
    void mapRefusesMisalignedArgumentsAndChangesNothing() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long pa = pages(2 * g);
        long iova = iovaBase(d, g);
        String r = "map refuses misaligned IOVA, physical address or size and changes nothing";
        long[][] bad = {{iova + g / 2, pa, g}, {iova, pa + g / 2, g}, {iova, pa, g / 2}, {iova, pa, g + g / 2},
                {iova, pa, 0}, {iova, pa, -g}};
        for (long[] a : bad) {
            State before = state(0, iova, iova + g);
            String call = "map(" + Hex.of(a[0]) + ", " + Hex.of(a[1]) + ", " + Hex.of(a[2]) + ")";
            refuses(r, InvalidArgumentException.class, call, () -> {
                d.map(a[0], a[1], a[2], Prot.READ_WRITE);
                return null;
            });
            unchanged(r, call, before, 0, iova, iova + g);
        }
    }

    @Test
    void mapRefusesAPhysicalRangeOutsideMemory() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long iova = iovaBase(d, g);
        String r = "map refuses a physical range outside memory";
        for (long pa : new long[] {memory.end(), memory.end() - g, memory.base() - g}) {
            long size = pa == memory.end() - g ? 2 * g : g;
            if (pa < 0) {
                continue;
            }
            State before = state(0, iova);
            String call = "map(" + Hex.of(iova) + ", " + Hex.of(pa) + ", " + Hex.of(size) + ")";
            refuses(r, InvalidArgumentException.class, call, () -> {
                d.map(iova, pa, size, Prot.READ_WRITE);
                return null;
            });
            unchanged(r, call, before, 0, iova);
        }
    }

    @Test
    void mapRefusesRightsThatAllowNeitherReadNorWrite() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long pa = pages(g);
        long iova = iovaBase(d, g);
        String r = "map refuses rights that allow neither read nor write";
        State before = state(0, iova);
        refuses(r, InvalidArgumentException.class, "map(.., prot ---)", () -> {
            d.map(iova, pa, g, new Prot(false, false, false, false));
            return null;
        });
        unchanged(r, "map(.., prot ---)", before, 0, iova);
    }

    @Test
    void mapRefusesAnyOverlapWithAnExistingMappingAndChangesNothing() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long pa = pages(8 * g);
        long iova = iovaBase(d, g) + 2 * g;
        d.map(iova, pa, 2 * g, Prot.READ_WRITE);
        String r = "map fails on an existing valid entry and changes nothing";
        long[][] overlaps = {{iova, g}, {iova + g, g}, {iova - g, 2 * g}, {iova + g, 2 * g}, {iova - g, 4 * g}};
        for (long[] o : overlaps) {
            State before = state(0, iova - g, iova, iova + g, iova + 2 * g);
            String call = "map(" + Hex.of(o[0]) + ", " + Hex.of(pa + 4 * g) + ", " + Hex.of(o[1])
                    + ") over the mapping " + Hex.range(iova, 2 * g);
            refuses(r, MappingConflictException.class, call, () -> {
                d.map(o[0], pa + 4 * g, o[1], Prot.READ_WRITE);
                return null;
            });
            unchanged(r, call, before, 0, iova - g, iova, iova + g, iova + 2 * g);
        }
    }

    @Test
    void everyDeclaredPageSizeIsMappedAsOneLeafOfThatSizeAtTheBottomAndTheTopOfTheAperture() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        String r = "every declared page size is mapped as one leaf of that size, at the bottom and at the top of the"
                + " aperture";
        int checked = 0;
        for (long rest = caps.pageSizes(); rest != 0; rest &= rest - 1) {
            long size = Long.lowestOneBit(rest);
            // Translation only, no DMA: the physical range need not be allocated, only inside memory.
            long pa = (memory.base() + size - 1) & -size;
            long low = iovaBase(d, size);
            long high = (d.apertureEnd() - size) & -size;
            if (!memory.contains(pa, size) || high < low) {
                continue; // larger than the kit's memory or the aperture: cannot be exercised here
            }
            for (long iova : high > low ? new long[] {low, high} : new long[] {low}) {
                String call = "map(" + Hex.of(iova) + ", " + Hex.of(pa) + ", " + Hex.size(size) + ")";
                d.map(iova, pa, size, Prot.READ_WRITE);
                assertThat(d).as(rule(r) + ": " + call + ", first byte").translates(iova).to(pa).withLeafSize(size);
                assertThat(d).as(rule(r) + ": " + call + ", middle byte").translates(iova + size / 2 + 1)
                        .to(pa + size / 2 + 1).withLeafSize(size);
                assertThat(d).as(rule(r) + ": " + call + ", last byte").translates(iova + size - 1)
                        .to(pa + size - 1).withLeafSize(size);
                long n = d.unmap(iova, size);
                assertThat(n).as(rule("unmap returns the bytes unmapped") + ": unmap(" + Hex.of(iova) + ", "
                        + Hex.size(size) + ") returned " + Hex.of(n)).isEqualTo(size);
                assertThat(d).as(rule(r) + ": after unmap").doesNotTranslate(iova).doesNotTranslate(iova + size - 1);
            }
            checked++;
        }
        requireSetup(checked > 0, "no declared page size fits the memory and the aperture: override createMemory()");
    }

    @Test
    void mapUsesBlockLeavesWhenAlignmentAndLengthAllowAndGranulePagesOnlyWithoutBlockMappings() {
        IommuDomain d = attachedDomain(0);
        long block = blockSize(d);
        if (!caps.blockMappings()) {
            // Translation only, no DMA: the physical range need not be allocated, only inside memory.
            long p0 = (memory.base() + block - 1) & -block;
            long iova = iovaBase(d, block);
            d.map(iova, p0, block, Prot.READ_WRITE);
            granulePagesOnly("without block mappings, map uses granule pages even where a block would fit",
                    "map(" + Hex.of(iova) + ", " + Hex.of(p0) + ", " + Hex.size(block) + ")", iova, p0, block);
            assertThat(d.unmap(iova, block)).as(rule("unmap returns the bytes unmapped")).isEqualTo(block);
            return;
        }
        long pa = pages(block);
        long iova = iovaBase(d, block);
        d.map(iova, pa, block, Prot.READ_WRITE);
        assertThat(d).as(rule("map uses the largest page size that alignment and length allow") + ": map("
                + Hex.of(iova) + ", " + Hex.of(pa) + ", " + Hex.size(block) + ")")
                .translates(iova + block / 2).to(pa + block / 2).withLeafSize(block);
        assertThat(d.unmap(iova, block)).as(rule("unmap returns the bytes unmapped")).isEqualTo(block);
    }

    @Test
    void mapOfARangeStraddlingABlockUsesPagesAtTheEdgesAndTheBlockInsideOrPagesThroughoutWithoutBlockMappings() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long block = blockSize(d);
        // Translation only, no DMA: the physical ranges need not be allocated, only inside memory.
        long p0 = (memory.base() + block - 1) & -block;
        requireSetup(memory.contains(p0, 2 * block), "memory too small for two blocks of " + Hex.size(block)
                + ": override createMemory()");
        long x = iovaBase(d, block) + block;
        long y = x + 2 * block;
        if (!caps.blockMappings()) {
            String r = "without block mappings, map uses granule pages throughout a range straddling a would-be block";
            d.map(x - g, p0 + block - g, block + g, Prot.READ_WRITE);
            d.map(y, p0, block + g, Prot.READ_WRITE);
            granulePagesOnly(r, "map(" + Hex.of(x - g) + ", " + Hex.of(p0 + block - g) + ", " + Hex.size(block + g)
                    + ")", x - g, p0 + block - g, block + g);
            granulePagesOnly(r, "map(" + Hex.of(y) + ", " + Hex.of(p0) + ", " + Hex.size(block + g) + ")", y, p0,
                    block + g);
            assertThat(d.unmap(x - g, 3 * block + 2 * g)).as(rule("unmap returns the bytes unmapped"))
                    .isEqualTo(2 * block + 2 * g);
            return;
        }
        String r = "map uses the largest page size that fits at each step";
        d.map(x - g, p0 + block - g, block + g, Prot.READ_WRITE);
        assertThat(d).as(rule(r) + ": the granule before the block").translates(x - g).to(p0 + block - g)
                .withLeafSize(g);
        assertThat(d).as(rule(r) + ": the aligned block").translates(x).to(p0 + block).withLeafSize(block);
        d.map(y, p0, block + g, Prot.READ_WRITE);
        assertThat(d).as(rule(r) + ": the aligned block").translates(y + block - 1).to(p0 + block - 1)
                .withLeafSize(block);
        assertThat(d).as(rule(r) + ": the granule after the block").translates(y + block).to(p0 + block)
                .withLeafSize(g);
        assertThat(d.unmap(x - g, 3 * block + 2 * g)).as(rule("unmap returns the bytes unmapped"))
                .isEqualTo(2 * block + 2 * g);
    }

    @Test
    void mapUsesGranulePagesWhereBlockAlignmentIsMissing() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long block = caps.blockMappings() ? caps.smallestBlock() : 4 * g;
        long pa = pages(block);
        long iova = iovaBase(d, block);
        d.map(iova + g, pa + g, block - g, Prot.READ_WRITE);
        assertThat(d).as(rule("a range aligned only to the granule is mapped with granule pages"))
                .translates(iova + g).to(pa + g).withLeafSize(g);
        assertThat(d).as(rule("a range aligned only to the granule is mapped with granule pages"))
                .translates(iova + block - g).to(pa + block - g).withLeafSize(g);
        assertThat(d).doesNotTranslate(iova);
    }

    @Test
    void walkReportsTheRightsTheMappingGranted() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long pa = pages(2 * g);
        long iova = iovaBase(d, g);
        d.map(iova, pa, g, Prot.READ_WRITE);
        d.map(iova + g, pa + g, g, Prot.READ);
        assertThat(d).as(rule("a READ_WRITE leaf allows reads and writes")).translates(iova)
                .allowing(Access.READ).allowing(Access.WRITE);
        assertThat(d).as(rule("a READ leaf allows reads and forbids writes")).translates(iova + g)
                .allowing(Access.READ).forbidding(Access.WRITE);
    }

    @Test
    void randomMapsAndUnmapsAgreeWithAReferenceModel() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long block = caps.blockMappings() ? caps.smallestBlockAtLeast(16 * g) : 0;
        long unit = block != 0 && memory.size() >= 2 * block ? block : 16 * g;
        long window = Math.min(2 * unit, Long.highestOneBit((d.apertureEnd() - iovaBase(d, unit)) / 2));
        if (window < 2 * unit) { // the aperture cannot hold two blocks: pages only
            unit = 16 * g;
            window = Math.min(2 * unit, Long.highestOneBit((d.apertureEnd() - iovaBase(d, unit)) / 2));
        }
        requireSetup(window >= 16 * g, "aperture too small for the random map/unmap window of 16 granules: declare a"
                + " larger aperture");
        long base = iovaBase(d, unit);
        long paBase = (memory.base() + unit - 1) & -unit;
        long paSpan = Math.min(memory.end() - paBase, 2 * unit);
        long seed = Long.getLong("dmashare.test.seed", System.nanoTime());
        int ops = 300 * Integer.getInteger("dmashare.test.scale", 1);
        System.out.println("randomMapsAndUnmapsAgreeWithAReferenceModel on " + iommu + ": seed " + seed
                + " (rerun with -Ddmashare.test.seed=" + seed + ")");
        java.util.Random rnd = new java.util.Random(seed);
        java.util.TreeMap<Long, Long> model = new java.util.TreeMap<>(); // granule IOVA -> granule PA
        String r = "map and unmap behave as a reference model of their rules (seed " + seed + ")";
        List<PageAllocator.Block> emptyDomain = memory.allocator().allocatedBlocks();
        for (int op = 0; op < ops; op++) {
            boolean big = unit != 16 * g && rnd.nextInt(4) == 0;
            long size = big ? unit : g * (1 + rnd.nextInt(8));
            long iova = big ? base + unit * rnd.nextInt((int) (window / unit))
                    : base + g * rnd.nextInt((int) ((window - size) / g) + 1);
            long pa = big ? paBase + unit * rnd.nextInt((int) Math.max(1, paSpan / unit))
                    : paBase + g * rnd.nextInt((int) ((paSpan - size) / g) + 1);
            String call;
            if (rnd.nextBoolean()) {
                call = "op " + op + ": map(" + Hex.of(iova) + ", " + Hex.of(pa) + ", " + Hex.of(size) + ")";
                boolean clash = !model.subMap(iova, iova + size).isEmpty();
                try {
                    d.map(iova, pa, size, Prot.READ_WRITE);
                    if (clash) {
                        fail(rule(r) + " broken: " + call + " succeeded over an existing mapping");
                    }
                    for (long o = 0; o < size; o += g) {
                        model.put(iova + o, pa + o);
                    }
                } catch (MappingConflictException e) {
                    if (!clash) {
                        fail(rule(r) + " broken: " + call + " was refused although the range is free: " + e.getMessage());
                    }
                }
            } else {
                call = "op " + op + ": unmap(" + Hex.of(iova) + ", " + Hex.of(size) + ")";
                // Under WHOLE_ENTRY_FROM_START a leaf starting in the range goes whole, past its end.
                long reach = iova + size;
                if (caps.unmapPolicy() == UnmapPolicy.WHOLE_ENTRY_FROM_START) {
                    Optional<Translation> lastLeaf = iommu.walk(0, iova + size - g);
                    if (lastLeaf.isPresent()) {
                        long leafStart = (iova + size - g) & -lastLeaf.get().pageSize();
                        reach = Math.max(reach, leafStart + lastLeaf.get().pageSize());
                    }
                }
                long mapped = model.subMap(iova, reach).size() * g;
                try {
                    long n = d.unmap(iova, size);
                    assertThat(n).as(rule(r) + " broken: " + call + " returned " + Hex.of(n) + " but " + Hex.of(mapped)
                            + " bytes of the range (and of leaves starting in it, as the declared unmap policy "
                            + caps.unmapPolicy() + " removes them whole) were mapped").isEqualTo(mapped);
                    model.subMap(iova, reach).clear();
                } catch (MappingConflictException e) {
                    Optional<Translation> first = iommu.walk(0, iova);
                    Optional<Translation> last = iommu.walk(0, iova + size - 1);
                    boolean cuts = first.filter(t -> (iova & (t.pageSize() - 1)) != 0).isPresent()
                            || caps.unmapPolicy() == UnmapPolicy.REFUSE_CUT
                            && last.filter(t -> ((iova + size) & (t.pageSize() - 1)) != 0).isPresent();
                    if (!cuts) {
                        fail(rule(r) + " broken: " + call + " was refused although no leaf sticks out of the range: "
                                + e.getMessage());
                    }
                }
            }
            // The op's own range (and a granule either side) after every op; the whole window every
            // 20 ops and after the last, so that a stray write anywhere is caught within 20 ops.
            boolean full = op % 20 == 19 || op == ops - 1;
            long from = full ? base : Math.max(base, iova - g);
            long to = full ? base + window : Math.min(base + window, iova + size + g);
            String when = full ? "after " + call + " (whole window, checked every 20 ops)" : "after " + call;
            agreesWithModel(r, when, model, from, to);
        }
        d.unmap(base, window);
        if (caps.reclaimsEmptyTables()) {
            assertThat(memory.allocator().allocatedBlocks()).as(rule(r) + " broken: after unmapping everything the table"
                    + " pages are not back").isEqualTo(emptyDomain);
        }
    }

    /** Walks [from, to) and fails at the first granule whose translation differs from the model. */
    private void agreesWithModel(String r, String when, java.util.NavigableMap<Long, Long> model, long from, long to) {
        long g = granule();
        long at = from;
        while (at < to) {
            Optional<Translation> t = iommu.walk(0, at);
            Long want = model.get(at);
            if (want == null) {
                if (t.isPresent()) {
                    fail(rule(r) + " broken " + when + ": IOVA " + Hex.of(at)
                            + " should be unmapped but the hardware walk finds " + t.get());
                }
                at += g;
                continue;
            }
            if (t.isEmpty() || t.get().pa() != want) {
                fail(rule(r) + " broken " + when + ": IOVA " + Hex.of(at) + " should translate to " + Hex.of(want)
                        + " but the hardware walk finds " + t.map(Translation::toString).orElse("nothing"));
            }
            long leafEnd = Math.min((at & -t.get().pageSize()) + t.get().pageSize(), to);
            for (long o = at + g; o < leafEnd; o += g) {
                Long w = model.get(o);
                if (w == null || w != t.get().pa() + (o - at)) {
                    fail(rule(r) + " broken " + when + ": the leaf " + t.get() + " maps IOVA " + Hex.of(o)
                            + " which the model has " + (w == null ? "unmapped" : "at " + Hex.of(w)));
                }
            }
            at = leafEnd;
        }
    }

    /**
     * The block the block-mapping checks map: the smallest declared block where block mappings are
     * declared; otherwise the block a backend would use if it had them (the smallest page size above
     * the granule, or else the span of one last-level table of 8-byte entries), halved until four
     * of them fit the aperture and two the memory.
     */
    private long blockSize(IommuDomain d) {
        if (caps.blockMappings()) {
            return caps.smallestBlock();
        }
        long g = granule();
        long size = caps.smallestBlock() != 0 ? caps.smallestBlock() : g * (g / 8);
        while (size > 4 * g && (iovaBase(d, size) > d.apertureEnd() - 4 * size - g
                || !memory.contains((memory.base() + size - 1) & -size, 2 * size))) {
            size /= 2;
        }
        return size;
    }

    /**
     * Walks every granule of {@code [iova, iova + length)} from the tables and fails unless each is
     * mapped by a granule-sized leaf to {@code pa} plus its offset.
     */
    private void granulePagesOnly(String r, String call, long iova, long pa, long length) {
        long g = granule();
        for (long o = 0; o < length; o += g) {
            Optional<Translation> t = iommu.walk(0, iova + o);
            if (t.isEmpty() || t.get().pa() != pa + o || t.get().pageSize() != g) {
                fail(rule(r) + " broken: after " + call + " IOVA " + Hex.of(iova + o) + " should be mapped by a "
                        + Hex.size(g) + " page to " + Hex.of(pa + o) + " but the hardware walk finds "
                        + t.map(Translation::toString).orElse("nothing"));
            }
        }
    }

    // =====================================================================================
    // unmap
    // =====================================================================================

    // unmap semantics: whole mappings only, bytes returned, holes skipped.
    @Test
    void unmapReturnsTheBytesUnmappedAndRemovesTheTranslations() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long pa = pages(4 * g);
        long iova = iovaBase(d, g);
        d.map(iova, pa, 4 * g, Prot.READ_WRITE);
        long n = d.unmap(iova, 4 * g);
        assertThat(n).as(rule("unmap returns the bytes unmapped") + ": unmap(" + Hex.of(iova) + ", "
                + Hex.size(4 * g) + ") returned " + Hex.of(n)).isEqualTo(4 * g);
        assertThat(d).as(rule("unmap removes the translations")).doesNotTranslateAnyOf(iova, 4 * g);
        assertThat(d.iovaToPhys(iova)).as(rule("iovaToPhys of an unmapped IOVA is NO_TRANSLATION"))
                .isEqualTo(IommuDomain.NO_TRANSLATION);
    }

    @Test
    void unmapSkipsHolesAndCountsOnlyMappedBytes() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long pa = pages(8 * g);
        long iova = iovaBase(d, g);
        d.map(iova + g, pa, g, Prot.READ_WRITE);
        d.map(iova + 4 * g, pa + 4 * g, 2 * g, Prot.READ_WRITE);
        long n = d.unmap(iova, 8 * g);
        assertThat(n).as(rule("unmap skips unmapped parts and returns only the bytes that were mapped")
                + ": unmap(" + Hex.of(iova) + ", " + Hex.size(8 * g) + ") over 3 mapped granules returned "
                + Hex.of(n)).isEqualTo(3 * g);
        assertThat(d.unmap(iova, 8 * g)).as(rule("unmap of an empty range returns 0")).isZero();
        assertThat(d).doesNotTranslateAnyOf(iova, 8 * g);
    }

    @Test
    void unmapOfOneGranulePageLeavesItsNeighboursMapped() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long pa = pages(4 * g);
        long iova = iovaBase(d, 4 * g) + g;
        d.map(iova, pa, 3 * g, Prot.READ_WRITE);
        assertThat(d.unmap(iova + g, g)).as(rule("unmap of one whole granule page of a page run is allowed"))
                .isEqualTo(g);
        assertThat(d).as(rule("unmap removes only its range")).translates(iova).to(pa);
        assertThat(d).as(rule("unmap removes only its range")).doesNotTranslate(iova + g).translates(iova + 2 * g)
                .to(pa + 2 * g);
    }

    @Test
    void unmapRefusesToCutABlockMappingAndChangesNothingOrCutsAPageRunWithoutBlockMappings() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long block = blockSize(d);
        if (!caps.blockMappings()) {
            // Translation only, no DMA: the physical range need not be allocated, only inside memory.
            long p0 = (memory.base() + block - 1) & -block;
            long iova = iovaBase(d, block);
            d.map(iova, p0, block, Prot.READ_WRITE);
            long mid = iova + block / 2;
            String r = "without block mappings, unmap of one granule from the middle of a block-sized range succeeds"
                    + " and leaves the rest mapped";
            String call = "unmap(" + Hex.of(mid) + ", " + Hex.size(g) + ") of the " + Hex.size(block) + " range at "
                    + Hex.of(iova);
            long n;
            try {
                n = d.unmap(mid, g);
            } catch (RuntimeException e) {
                throw new AssertionError(rule(r) + " broken: " + call + " threw " + e, e);
            }
            assertThat(n).as(rule(r) + " broken: " + call + " returned " + Hex.of(n)).isEqualTo(g);
            assertThat(d).as(rule(r) + ": " + call).doesNotTranslate(mid);
            granulePagesOnly(r, call, iova, p0, block / 2);
            granulePagesOnly(r, call, mid + g, p0 + block / 2 + g, block / 2 - g);
            return;
        }
        long pa = pages(block);
        long iova = iovaBase(d, block);
        d.map(iova, pa, block, Prot.READ_WRITE);
        String r = "unmap must cover whole mappings: cutting a block fails and changes nothing";
        long[][] cuts = {{iova, g}, {iova + g, block - g}, {iova + block - g, 2 * g}, {iova - g, 2 * g}};
        boolean wholeFromStart = caps.unmapPolicy() == UnmapPolicy.WHOLE_ENTRY_FROM_START;
        for (long[] c : cuts) {
            if (c[0] < d.apertureStart()) {
                continue;
            }
            if (wholeFromStart && c[0] <= iova && iova < c[0] + c[1]) {
                continue; // the block starts inside the range: this policy removes it whole (checked below)
            }
            State before = state(0, iova, iova + block - g);
            String call = "unmap(" + Hex.of(c[0]) + ", " + Hex.of(c[1]) + ") of the " + Hex.size(block) + " block at "
                    + Hex.of(iova);
            refuses(r, MappingConflictException.class, call, () -> d.unmap(c[0], c[1]));
            unchanged(r, call, before, 0, iova, iova + block - g);
        }
        if (wholeFromStart) {
            String w = "the declared unmap policy WHOLE_ENTRY_FROM_START: an unmap starting at a block's first byte"
                    + " removes the whole block and returns its size";
            long n = d.unmap(iova, g);
            assertThat(n).as(rule(w) + ": unmap(" + Hex.of(iova) + ", " + Hex.size(g) + ") of the " + Hex.size(block)
                    + " block returned " + Hex.of(n)).isEqualTo(block);
            assertThat(d).as(rule(w)).doesNotTranslateAnyOf(iova, block);
        } else {
            String k = "the declared unmap policy REFUSE_CUT: an unmap starting at a block's first byte but ending"
                    + " inside it is refused";
            assertThat(d).as(rule(k)).translates(iova + block - g).to(pa + block - g).withLeafSize(block);
        }
    }

    @Test
    void unmapRefusesMisalignedArguments() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long pa = pages(2 * g);
        long iova = iovaBase(d, g);
        d.map(iova, pa, 2 * g, Prot.READ_WRITE);
        String r = "unmap refuses a misaligned IOVA or size and changes nothing";
        long[][] bad = {{iova + g / 2, g}, {iova, g / 2}, {iova, 0}};
        for (long[] a : bad) {
            State before = state(0, iova, iova + g);
            String call = "unmap(" + Hex.of(a[0]) + ", " + Hex.of(a[1]) + ")";
            refuses(r, InvalidArgumentException.class, call, () -> d.unmap(a[0], a[1]));
            unchanged(r, call, before, 0, iova, iova + g);
        }
    }

    // =====================================================================================
    // aperture
    // =====================================================================================

    // Aperture limits and the IOVA allocator.
    @Test
    void mapRefusesRangesOutsideTheAperture() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long pa = pages(2 * g);
        String r = "map refuses ranges outside the aperture";
        List<long[]> outside = new ArrayList<>();
        if (d.apertureEnd() <= Long.MAX_VALUE - 2 * g) {
            outside.add(new long[] {d.apertureEnd(), g});
            outside.add(new long[] {d.apertureEnd() - g, 2 * g});
        }
        if (d.apertureStart() >= g) {
            outside.add(new long[] {d.apertureStart() - g, g});
        }
        for (long[] o : outside) {
            String call = "map(" + Hex.of(o[0]) + ", " + Hex.of(pa) + ", " + Hex.of(o[1]) + ") with aperture "
                    + Hex.range(d.apertureStart(), d.apertureEnd() - d.apertureStart());
            State before = state(0, d.apertureEnd() - g);
            refuses(r, InvalidArgumentException.class, call, () -> {
                d.map(o[0], pa, o[1], Prot.READ_WRITE);
                return null;
            });
            unchanged(r, call, before, 0, d.apertureEnd() - g);
        }
    }

    @Test
    void mapAcceptsTheFirstAndLastGranuleOfTheAperture() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long pa = pages(2 * g);
        d.map(d.apertureStart(), pa, g, Prot.READ_WRITE);
        d.map(d.apertureEnd() - g, pa + g, g, Prot.READ_WRITE);
        assertThat(d).as(rule("the first granule of the aperture can be mapped")).translates(d.apertureStart())
                .to(pa);
        assertThat(d).as(rule("the last granule of the aperture can be mapped")).translates(d.apertureEnd() - 1)
                .to(pa + 2 * g - 1);
        assertThat(d.unmap(d.apertureEnd() - g, g)).isEqualTo(g);
        assertThat(d.unmap(d.apertureStart(), g)).isEqualTo(g);
    }

    @Test
    void iovaAllocatorStaysInsideTheApertureAndNeverHandsOutZero() {
        IommuDomain d = domain(iommu);
        long g = granule();
        assertThat(d.iovaAllocator().start()).as(rule("the IOVA allocator never hands out IOVA 0") + ": it starts at "
                + Hex.of(d.iovaAllocator().start())).isPositive().isGreaterThanOrEqualTo(d.apertureStart());
        assertThat(d.iovaAllocator().end()).as(rule("the IOVA allocator stays inside the aperture"))
                .isLessThanOrEqualTo(d.apertureEnd());
        assertThat(d.iovaAllocator().granule()).as(rule("the IOVA allocator works in granules")).isEqualTo(g);
        long a = d.iovaAllocator().allocate(4 * g, g);
        assertThat(a).as(rule("the IOVA allocator never hands out IOVA 0")).isPositive();
        d.iovaAllocator().free(a, 4 * g);
    }

    // Hardware whose walk reaches further than the configured input size (DART's L1 table covers
    // 36 bits however few of them Linux uses) faults there with TRANSLATION instead; both are right.
    @Test
    void accessBeyondTheInputSizeFaultsWithAddressSizeOrTranslation() {
        Assumptions.assumeTrue(iommu.inputBits() < 63, "input size of 63 bits or more leaves no IOVA beyond it");
        IommuDomain d = attachedDomain(0);
        long beyond = 1L << iommu.inputBits();
        String r = "an access beyond the input size faults with ADDRESS_SIZE or TRANSLATION";
        assertThat(d).as(rule("an IOVA beyond the input size has no translation")).doesNotTranslate(beyond);
        DeviceFaultException e = faults(r, "a device read at " + Hex.of(beyond), () -> iommu.device(0).read(beyond, 8));
        IommuFault.Reason reason = e.fault().reason() == IommuFault.Reason.TRANSLATION
                ? IommuFault.Reason.TRANSLATION : IommuFault.Reason.ADDRESS_SIZE;
        expectFault(r, e, 0, beyond, Access.READ, reason);
    }

    // =====================================================================================
    // protection and the fault log
    // =====================================================================================

    // Device DMA, protection enforcement and the fault log.
    @Test
    void deviceDmaReachesExactlyTheMappedBytes() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long pa = pages(4 * g);
        long iova = iovaBase(d, g);
        d.map(iova, pa + g, 2 * g, Prot.READ_WRITE);
        byte[] data = pattern((int) (2 * g), 5);
        iommu.device(0).write(iova, data);
        assertThat(memory.read(pa + g, data.length)).as(rule("a device write lands at the mapped physical bytes"))
                .isEqualTo(data);
        assertThat(memory.read(pa, (int) g)).as(rule("a device write touches nothing outside its mapping"))
                .containsOnly(0);
        assertThat(memory.read(pa + 3 * g, (int) g)).as(rule("a device write touches nothing outside its mapping"))
                .containsOnly(0);
        byte[] cpu = pattern((int) g, 9);
        memory.write(pa + 2 * g, cpu);
        assertThat(iommu.device(0).read(iova + g, (int) g)).as(rule("a device read returns the mapped bytes"))
                .isEqualTo(cpu);
        assertThat(iommu.faults()).as(rule("a permitted access logs no fault")).isEmpty();
    }

    @Test
    void writeToAReadOnlyMappingFaultsWithPermissionAndWritesNothing() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long pa = pages(g);
        long iova = iovaBase(d, g);
        d.map(iova, pa, g, Prot.READ);
        String r = "a device write to a read-only mapping faults with PERMISSION and writes nothing";
        DeviceFaultException e = faults(r, "a device write to read-only IOVA " + Hex.of(iova),
                () -> {
                    iommu.device(0).write(iova, new byte[] {1, 2, 3});
                    return null;
                });
        expectFault(r, e, 0, iova, Access.WRITE, IommuFault.Reason.PERMISSION);
        assertThat(memory.read(pa, 3)).as(rule(r)).containsOnly(0);
        assertThat(iommu.device(0).read(iova, 3)).as(rule("a read-only mapping allows device reads")).hasSize(3);
    }

    @Test
    void readOfAWriteOnlyMappingFaultsWithPermissionOrWriteOnlyIsRefusedWhereTheFormatCannotExpressIt() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long pa = pages(g);
        long iova = iovaBase(d, g);
        if (!caps.writeOnly()) {
            String r = "a format without write-only mappings refuses Prot.WRITE instead of granting reads";
            State before = state(0, iova);
            refuses(r, InvalidArgumentException.class, "map(" + Hex.of(iova) + ", .., Prot.WRITE)", () -> {
                d.map(iova, pa, g, Prot.WRITE);
                return null;
            });
            unchanged(r, "map(.., Prot.WRITE)", before, 0, iova);
            return;
        }
        d.map(iova, pa, g, Prot.WRITE);
        iommu.device(0).write(iova, new byte[] {7});
        assertThat(memory.read(pa, 1)).as(rule("a write-only mapping allows device writes")).containsExactly(7);
        String r = "a device read of a write-only mapping faults with PERMISSION";
        DeviceFaultException e = faults(r, "a device read of write-only IOVA " + Hex.of(iova),
                () -> iommu.device(0).read(iova, 1));
        expectFault(r, e, 0, iova, Access.READ, IommuFault.Reason.PERMISSION);
    }

    @Test
    void accessToAnUnmappedIovaFaultsWithTranslationAndIsLogged() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long iova = iovaBase(d, g) + 5 * g;
        String r = "an access to an unmapped IOVA faults with TRANSLATION and is logged";
        DeviceFaultException e = faults(r, "a device read of unmapped IOVA " + Hex.of(iova),
                () -> iommu.device(0).read(iova, 4));
        expectFault(r, e, 0, iova, Access.READ, IommuFault.Reason.TRANSLATION);
        assertThat(e.fault().iommu()).as(rule("a fault names its unit")).isEqualTo(iommu.name());
        DeviceFaultException w = faults(r, "a device write to unmapped IOVA " + Hex.of(iova + g),
                () -> {
                    iommu.device(0).write(iova + g, new byte[4]);
                    return null;
                });
        expectFault(r, w, 0, iova + g, Access.WRITE, IommuFault.Reason.TRANSLATION);
        assertThat(iommu.faults()).as(rule("the fault log keeps faults oldest first")).containsExactly(e.fault(),
                w.fault());
    }

    @Test
    void clearFaultsEmptiesTheLog() {
        IommuDomain d = attachedDomain(0);
        long iova = iovaBase(d, granule());
        faults("an access to an unmapped IOVA faults", "a device read", () -> iommu.device(0).read(iova, 1));
        assertThat(iommu.faults()).hasSize(1);
        iommu.clearFaults();
        assertThat(iommu.faults()).as(rule("clearFaults empties the fault log")).isEmpty();
    }

    @Test
    void detachedStreamBlocksEveryAccess() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long pa = pages(g);
        long iova = iovaBase(d, g);
        d.map(iova, pa, g, Prot.READ_WRITE);
        iommu.device(0).read(iova, 1);
        iommu.device(0).detach();
        iommu.device(0).detach();
        assertThat(iommu.device(0).domain()).as(rule("a detached device has no domain")).isEmpty();
        assertThat(d.devices()).as(rule("a detached device leaves its domain's device set")).isEmpty();
        assertThat(iommu.walk(0, iova)).as(rule("the walk of a detached stream finds nothing")).isEmpty();
        String r = "a detached stream blocks every access with BLOCKED, even one cached in the IOTLB";
        DeviceFaultException e = faults(r, "a device read after detach", () -> iommu.device(0).read(iova, 1));
        expectFault(r, e, 0, iova, Access.READ, IommuFault.Reason.BLOCKED);
    }

    @Test
    void blockedDomainFaultsEveryAccess() {
        IommuDomain blocked = closeLater(iommu.createDomain(DomainType.BLOCKED));
        assertThat(blocked.type()).isEqualTo(DomainType.BLOCKED);
        iommu.device(0).attach(blocked);
        long iova = granule();
        String r = "a stream attached to a blocked domain faults every access with BLOCKED";
        DeviceFaultException e = faults(r, "a device read through a blocked domain",
                () -> iommu.device(0).read(iova, 1));
        expectFault(r, e, 0, iova, Access.READ, IommuFault.Reason.BLOCKED);
    }

    // =====================================================================================
    // sub-page protection
    // =====================================================================================

    // Sub-page protection where the hardware has it; where it has none, no leaf may have a window.
    @Test
    void accessOutsideTheSubPageWindowFaultsWithSubpageAndWithoutSubPageProtectionNoLeafHasAWindow() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long pa = pages(g);
        long iova = iovaBase(d, g);
        d.map(iova, pa, g, Prot.READ_WRITE);
        long first = g / 4;
        long last = g / 2 - 1;
        if (caps.subPage().isEmpty()) {
            String r = "without sub-page protection no leaf has a sub-page window and devices reach the whole page";
            for (long off : new long[] {0, first - 1, first, last, last + 1, g - 1}) {
                Optional<Translation> t = iommu.walk(0, iova + off);
                assertThat(t).as(rule(r) + " broken: the hardware walk finds nothing at IOVA " + Hex.of(iova + off)
                        + " of the mapped page " + Hex.of(iova)).isPresent();
                assertThat(t.get().hasSubpageWindow()).as(rule(r) + " broken: the hardware walk at IOVA "
                        + Hex.of(iova + off) + " finds " + t.get()).isFalse();
            }
            byte[] data = pattern((int) g, 13);
            try {
                iommu.device(0).write(iova, data);
                assertThat(iommu.device(0).read(iova, (int) g)).as(rule(r) + " broken: a device read of the whole"
                        + " page returned other bytes than the device wrote").isEqualTo(data);
            } catch (DeviceFaultException e) {
                throw new AssertionError(rule(r) + " broken: a device access to the whole page at " + Hex.of(iova)
                        + " faulted (" + e.fault() + ")", e);
            }
            assertThat(memory.read(pa, (int) g)).as(rule(r) + " broken: a device write of the whole page did not land"
                    + " in full").isEqualTo(data);
            return;
        }
        caps.subPage().get().restrict(d, iova, first, last);
        d.flushIotlb();
        assertThat(iommu.device(0).read(iova + first, (int) (last - first + 1)))
                .as(rule("accesses inside the sub-page window are allowed")).hasSize((int) (last - first + 1));
        String r = "an access outside the sub-page window faults with SUBPAGE";
        for (long off : new long[] {0, first - 1, last + 1, g - 1}) {
            DeviceFaultException e = faults(r, "a device read at offset " + Hex.of(off) + " of a page whose window is ["
                    + Hex.of(first) + ", " + Hex.of(last) + "]", () -> iommu.device(0).read(iova + off, 1));
            expectFault(r, e, 0, iova + off, Access.READ, IommuFault.Reason.SUBPAGE);
        }
    }

    // =====================================================================================
    // IOTLB
    // =====================================================================================

    // The IOTLB: translations stay cached until flushed, as on hardware.
    @Test
    void unmapWithoutFlushLeavesTheCachedTranslationUsableUntilFlushIotlb() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long pa = pages(g);
        long iova = iovaBase(d, g);
        d.map(iova, pa, g, Prot.READ_WRITE);
        memory.write(pa, new byte[] {42});
        iommu.device(0).read(iova, 1);
        assertThat(iommu.iotlbSize()).as(rule("a device access fills the IOTLB")).isPositive();
        d.unmap(iova, g);
        assertThat(d).as(rule("unmap clears the entry in memory at once")).doesNotTranslate(iova);
        byte[] stale;
        try {
            stale = iommu.device(0).read(iova, 1);
        } catch (DeviceFaultException e) {
            throw new AssertionError(rule("a cached translation stays usable until flushIotlb (stale until flush)")
                    + " broken: after unmap without flush the device access faulted (" + e.fault()
                    + "); the backend invalidated the IOTLB on unmap, which hardware does not do", e);
        }
        assertThat(stale).as(rule("a cached translation stays usable until flushIotlb")
                + ": the stale access read other bytes than the old page's").containsExactly(42);
        d.flushIotlb();
        String r = "after flushIotlb a device sees the tables as they are";
        DeviceFaultException e = faults(r, "a device read after unmap and flushIotlb",
                () -> iommu.device(0).read(iova, 1));
        expectFault(r, e, 0, iova, Access.READ, IommuFault.Reason.TRANSLATION);
    }

    // What every caller of map relies on (iommu_map calls iotlb_sync_map): after map and syncMap,
    // without flushIotlb, a device reaches the new mapping even where it faulted just before. A
    // backend whose IOTLB caches misses must flush in syncMap.
    @Test
    void aNewMappingIsReachableAfterSyncMapEvenWhereTheDeviceJustFaulted() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long pa = pages(g);
        long iova = iovaBase(d, g);
        memory.write(pa, new byte[] {7});
        faults("a device access to an unmapped IOVA faults", "a device read before the map",
                () -> iommu.device(0).read(iova, 1));
        d.map(iova, pa, g, Prot.READ_WRITE);
        d.syncMap(iova, g);
        String r = "after map and syncMap a device reaches the new mapping";
        byte[] got;
        try {
            got = iommu.device(0).read(iova, 1);
        } catch (DeviceFaultException e) {
            throw new AssertionError(rule(r) + " broken: the read faulted (" + e.fault() + "); the backend kept"
                    + " the earlier miss past syncMap", e);
        }
        assertThat(got).as(rule(r)).containsExactly(7);
    }

    @Test
    void remapWithoutFlushStillReachesTheOldPageUntilFlushIotlb() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long pa = pages(2 * g);
        long iova = iovaBase(d, g);
        memory.write(pa, new byte[] {1});
        memory.write(pa + g, new byte[] {2});
        d.map(iova, pa, g, Prot.READ_WRITE);
        assertThat(iommu.device(0).read(iova, 1)).containsExactly(1);
        d.unmap(iova, g);
        d.map(iova, pa + g, g, Prot.READ_WRITE);
        assertThat(d).translates(iova).to(pa + g);
        assertThat(iommu.device(0).read(iova, 1)).as(rule("a cached translation stays usable until flushIotlb")
                + ": after a remap without flush the device should still reach the old page").containsExactly(1);
        d.flushIotlb();
        assertThat(iommu.device(0).read(iova, 1)).as(rule("after flushIotlb a device sees the new mapping"))
                .containsExactly(2);
    }

    @Test
    void flushIotlbEmptiesTheEntriesOfTheDomainsStreams() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long pa = pages(4 * g);
        long iova = iovaBase(d, g);
        d.map(iova, pa, 4 * g, Prot.READ_WRITE);
        iommu.device(0).read(iova, (int) (4 * g));
        assertThat(iommu.iotlbSize()).as(rule("device accesses fill the IOTLB")).isPositive();
        d.flushIotlb();
        assertThat(iommu.iotlbSize()).as(rule("flushIotlb invalidates every entry of the domain's streams"))
                .isZero();
    }

    @Test
    void attachInvalidatesTheStreamsCachedTranslations() {
        IommuDomain a = attachedDomain(0);
        IommuDomain b = domain(iommu);
        long g = granule();
        long pa = pages(g);
        long iova = iovaBase(a, g);
        a.map(iova, pa, g, Prot.READ_WRITE);
        iommu.device(0).read(iova, 1);
        iommu.device(0).attach(b);
        assertThat(b.devices()).as(rule("attach moves the device to the new domain")).contains(iommu.device(0));
        assertThat(a.devices()).as(rule("attach removes the device from its old domain")).isEmpty();
        String r = "attach invalidates the stream's IOTLB entries";
        DeviceFaultException e = faults(r, "a device read through the new domain of an IOVA cached from the old",
                () -> iommu.device(0).read(iova, 1));
        expectFault(r, e, 0, iova, Access.READ, IommuFault.Reason.TRANSLATION);
    }

    // =====================================================================================
    // table pages
    // =====================================================================================

    // Page-table pages come from, and go back to, the memory's page allocator.
    private long[] scattered(IommuDomain d) {
        long g = granule();
        long span = d.apertureEnd() - d.apertureStart();
        long step = Long.highestOneBit(Math.max(g, Math.min(span / 4, 1L << 30)));
        long base = iovaBase(d, g);
        List<Long> out = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            long at = base + i * step;
            if (at + g <= d.apertureEnd()) {
                out.add(at);
            }
        }
        return out.stream().mapToLong(Long::longValue).toArray();
    }

    @Test
    void tablePagesComeFromThePageAllocator() {
        PageAllocator.Usage before = memory.allocator().usage();
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long pa = pages(g);
        for (long iova : scattered(d)) {
            d.map(iova, pa, g, Prot.READ_WRITE);
        }
        PageAllocator.Usage after = memory.allocator().usage();
        assertThat(after.tableBytes()).as(rule("page tables are allocated from the memory's page allocator as"
                + " PAGE_TABLE") + ": table bytes before " + Hex.of(before.tableBytes()) + ", after a domain and "
                + "three maps " + Hex.of(after.tableBytes())).isGreaterThan(before.tableBytes());
    }

    @Test
    void closingADomainReturnsEveryTablePage() {
        List<PageAllocator.Block> before = memory.allocator().allocatedBlocks();
        IommuDomain d = iommu.createDomain();
        iommu.device(0).attach(d);
        long g = granule();
        long pa = memory.allocator().allocate(Math.max(g, memory.pageSize()), PageUse.BUFFER);
        for (long iova : scattered(d)) {
            d.map(iova, pa, g, Prot.READ_WRITE);
        }
        d.close();
        d.close();
        assertThat(d.isClosed()).as(rule("a closed domain says so")).isTrue();
        assertThat(iommu.device(0).domain()).as(rule("closing a domain detaches its devices")).isEmpty();
        memory.allocator().free(pa, Math.max(g, memory.pageSize()));
        assertThat(memory.allocator().allocatedBlocks()).as(rule("closing a domain returns every table page to the"
                + " page allocator")).isEqualTo(before);
    }

    @Test
    void unmappingEverythingReturnsTheTablesMapAllocated() {
        requireCapability(caps.reclaimsEmptyTables(), "reclaimsEmptyTables");
        IommuDomain d = attachedDomain(0);
        List<PageAllocator.Block> empty = memory.allocator().allocatedBlocks();
        long g = granule();
        long pa = memory.allocator().allocate(Math.max(g, memory.pageSize()), PageUse.BUFFER);
        long[] iovas = scattered(d);
        for (long iova : iovas) {
            d.map(iova, pa, g, Prot.READ_WRITE);
        }
        for (long iova : iovas) {
            d.unmap(iova, g);
        }
        memory.allocator().free(pa, Math.max(g, memory.pageSize()));
        assertThat(memory.allocator().allocatedBlocks()).as(rule("a table page whose last entry is unmapped goes back"
                + " to the page allocator")).isEqualTo(empty);
    }

    @Test
    void mapThatFailsPartwayLeavesTablesAndTranslationsAsBefore() {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        long boundary = 1L << 30;
        while (boundary > 2 * g && (boundary - g < Math.max(d.apertureStart(), g) || boundary + g > d.apertureEnd())) {
            boundary >>= 1;
        }
        requireSetup(boundary > 2 * g, "aperture too small for a map across a table boundary: declare a larger"
                + " aperture");
        long iova = boundary - g;
        long pa = pages(2 * g);
        String r = "a map that fails partway (table page or map failure) changes nothing";
        for (FailureInjector.Point point : List.of(FailureInjector.Point.TABLE_PAGE_ALLOCATION,
                FailureInjector.Point.MAP)) {
            for (int n = 1; n <= 16; n++) {
                State before = state(0, iova, iova + g);
                memory.failures().failNth(point, n);
                boolean failed = false;
                try {
                    d.map(iova, pa, 2 * g, Prot.READ_WRITE);
                } catch (RuntimeException e) {
                    failed = true;
                }
                boolean pending = memory.failures().pending(point);
                memory.failures().clear();
                if (failed) {
                    unchanged(r, "map(" + Hex.of(iova) + ", " + Hex.of(pa) + ", " + Hex.of(2 * g)
                            + ") failing at the " + n + "th " + point, before, 0, iova, iova + g);
                    continue;
                }
                assertThat(pending).as(rule(r) + " broken: the injected " + point + " failure #" + n
                        + " fired but map(" + Hex.of(iova) + ") succeeded anyway").isTrue();
                if (point == FailureInjector.Point.MAP && n == 1) {
                    throw new AssertionError(rule(r) + " broken: map(" + Hex.of(iova) + ", " + Hex.of(pa) + ", "
                            + Hex.of(2 * g) + ") succeeded with a MAP failure injected for that very call: the domain"
                            + " never honours an injected map failure (every map must call"
                            + " memory.failures().check(MAP) before changing anything)");
                }
                assertThat(d).translatesRange(iova, pa, 2 * g);
                d.unmap(iova, 2 * g);
                break;
            }
        }
    }

    @Test
    void closedDomainRefusesMapAndUnmap() {
        IommuDomain d = iommu.createDomain();
        d.close();
        long g = granule();
        refuses("a closed domain refuses map", ObjectClosedException.class, "map on a closed domain", () -> {
            d.map(g, memory.base(), g, Prot.READ_WRITE);
            return null;
        });
        refuses("a closed domain refuses unmap", ObjectClosedException.class, "unmap on a closed domain",
                () -> d.unmap(g, g));
        refuses("attach to a closed domain is refused", ObjectClosedException.class, "attach to a closed domain",
                () -> {
                    iommu.device(0).attach(d);
                    return null;
                });
    }

    // =====================================================================================
    // streams
    // =====================================================================================

    // Streams, attach and isolation.
    @Test
    void streamsInDifferentDomainsAreIsolated() {
        requireCapability(caps.streams() >= 2, "streams >= 2");
        IommuDomain a = attachedDomain(0);
        IommuDomain b = attachedDomain(1);
        long g = granule();
        long pa = pages(2 * g);
        long iova = iovaBase(a, g);
        a.map(iova, pa, g, Prot.READ_WRITE);
        b.map(iova, pa + g, g, Prot.READ_WRITE);
        assertThat(iommu.walk(0, iova).map(Translation::pa)).as(rule("each stream walks its own domain's tables"))
                .contains(pa);
        assertThat(iommu.walk(1, iova).map(Translation::pa)).as(rule("each stream walks its own domain's tables"))
                .contains(pa + g);
        iommu.device(0).write(iova, new byte[] {11});
        iommu.device(1).write(iova, new byte[] {22});
        assertThat(memory.read(pa, 1)).as(rule("streams in different domains are isolated")).containsExactly(11);
        assertThat(memory.read(pa + g, 1)).as(rule("streams in different domains are isolated")).containsExactly(22);
        a.unmap(iova, g);
        a.flushIotlb();
        assertThat(iommu.device(1).read(iova, 1)).as(rule("flushing one domain leaves other streams' mappings"))
                .containsExactly(22);
    }

    @Test
    void streamsSharingADomainSeeTheSameTranslations() {
        requireCapability(caps.streams() >= 2, "streams >= 2");
        IommuDomain d = attachedDomain(0);
        iommu.device(1).attach(d);
        assertThat(d.devices()).as(rule("a domain lists every device attached to it"))
                .containsExactlyInAnyOrder(iommu.device(0), iommu.device(1));
        long g = granule();
        long pa = pages(g);
        long iova = iovaBase(d, g);
        d.map(iova, pa, g, Prot.READ_WRITE);
        iommu.device(0).write(iova, new byte[] {5});
        assertThat(iommu.device(1).read(iova, 1)).as(rule("streams sharing a domain see the same memory"))
                .containsExactly(5);
        iommu.device(1).read(iova, 1);
        d.unmap(iova, g);
        d.flushIotlb();
        for (int sid = 0; sid < 2; sid++) {
            int s = sid;
            faults("flushIotlb invalidates every stream attached to the domain",
                    "a read by stream " + sid + " after unmap and flush", () -> iommu.device(s).read(iova, 1));
        }
    }

    @Test
    void attachToADomainOfAnotherUnitIsRefused() {
        Iommu other = secondUnit();
        IommuDomain foreign = domain(other);
        refuses("attach to a domain of another IOMMU is refused", InvalidArgumentException.class,
                "device(0).attach(domain of another unit)", () -> {
                    iommu.device(0).attach(foreign);
                    return null;
                });
        assertThat(iommu.device(0).domain()).as(rule("a refused attach changes nothing")).isEmpty();
    }

    // =====================================================================================
    // bypass
    // =====================================================================================

    // Identity (bypass) domains.
    @Test
    void identityDomainPassesPhysicalAddressesThroughWithBypassAndIsRefusedWithout() {
        if (!caps.bypass()) {
            refuses("a unit without bypass refuses identity domains", InvalidArgumentException.class,
                    "createDomain(IDENTITY)", () -> closeLater(iommu.createDomain(DomainType.IDENTITY)));
            return;
        }
        IommuDomain id;
        try {
            id = closeLater(iommu.createDomain(DomainType.IDENTITY));
        } catch (InvalidArgumentException e) {
            throw new AssertionError(rule("a unit declaring bypass creates identity domains")
                    + " broken: createDomain(IDENTITY) threw " + e, e);
        }
        iommu.device(0).attach(id);
        long pa = pages(granule());
        assertThat(iommu.walk(0, pa + 8).map(Translation::pa)).as(rule("an identity domain translates every address"
                + " to itself")).contains(pa + 8);
        iommu.device(0).write(pa + 8, new byte[] {3});
        assertThat(memory.read(pa + 8, 1)).as(rule("an identity domain passes device writes through"))
                .containsExactly(3);
    }

    // =====================================================================================
    // concurrency
    // =====================================================================================

    // Disjoint maps and unmaps from several threads.
    @Test
    void disjointMapsFromSeveralThreadsAllLand() throws Exception {
        IommuDomain d = attachedDomain(0);
        long g = granule();
        int threads = 4;
        int perThread = 16;
        long pa = pages(Long.highestOneBit(threads * perThread * g));
        long base = iovaBase(d, g);
        List<PageAllocator.Block> emptyDomain = memory.allocator().allocatedBlocks();
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Callable<Void>> work = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int id = t;
                work.add(() -> {
                    for (int round = 0; round < 8; round++) {
                        for (int i = 0; i < perThread; i++) {
                            long slot = (long) id * perThread + i;
                            // Spread threads' ranges over distinct upper-level tables too.
                            long iova = base + slot * g + (long) id * (1L << 21);
                            d.map(iova, pa + slot * g, g, Prot.READ_WRITE);
                        }
                        if (round < 7) {
                            for (int i = 0; i < perThread; i++) {
                                long slot = (long) id * perThread + i;
                                d.unmap(base + slot * g + (long) id * (1L << 21), g);
                            }
                        }
                    }
                    return null;
                });
            }
            for (Future<Void> f : pool.invokeAll(work)) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
            pool.awaitTermination(10, TimeUnit.SECONDS);
        }
        for (int t = 0; t < threads; t++) {
            for (int i = 0; i < perThread; i++) {
                long slot = (long) t * perThread + i;
                long iova = base + slot * g + (long) t * (1L << 21);
                assertThat(d).as(rule("disjoint maps from several threads all land") + ": thread " + t + " slot " + i)
                        .translates(iova).to(pa + slot * g);
                d.unmap(iova, g);
            }
        }
        if (caps.reclaimsEmptyTables()) {
            assertThat(memory.allocator().allocatedBlocks()).as(rule("concurrent map and unmap leak no table page"))
                    .isEqualTo(emptyDomain);
        }
    }

    // =====================================================================================
    // the helper on this backend alone
    // =====================================================================================

    // The sharing helper's guarantees on this backend alone (two units of it).
    private IommuDomain first;
    private IommuDomain second;
    private Iommu otherUnit;
    private DmaSharing sharing;
    private IommuDomain mine;

    /** Two domains, one in each of two units of the backend under test, each with a device. */
    private void twoDomains() {
        first = attachedDomain(0);
        otherUnit = secondUnit();
        second = domain(otherUnit);
        otherUnit.device(0).attach(second);
        sharing = new DmaSharing(memory);
    }

    @Test
    void sharedBufferIsContiguousAlignedAndNotOverExposedInEveryDomain() {
        twoDomains();
        long g = granule();
        for (long size : new long[] {1, 3 * g + 100, (1L << 20) + 4096}) {
            try (SharedBuffer b = sharing.allocate(size, List.of(first, second))) {
                assertThat(b.alignment()).as(rule("A is at least the granule and the CPU page size"))
                        .isGreaterThanOrEqualTo(Math.max(g, memory.pageSize()));
                assertThat(b).as("buffer of " + Hex.size(size)).isContiguousIn(first).isContiguousIn(second)
                        .isAligned().hasNoOverExposure();
            }
        }
    }

    @Test
    void devicesOnBothDomainsSeeTheBufferAndEachOthersWrites() {
        twoDomains();
        long g = granule();
        try (SharedBuffer b = sharing.allocate(3 * g, List.of(first, second))) {
            byte[] data = pattern((int) b.length(), 3);
            b.write(0, data);
            assertThat(iommu.device(0).read(b.iova(first), data.length))
                    .as(rule("a device reads the CPU's bytes through its IOVA")).isEqualTo(data);
            byte[] reply = pattern(64, 77);
            otherUnit.device(0).write(b.iova(second) + g, reply);
            assertThat(iommu.device(0).read(b.iova(first) + g, reply.length))
                    .as(rule("devices on two domains see each other's writes")).isEqualTo(reply);
            assertThat(b.read(g, reply.length)).as(rule("the CPU sees device writes")).isEqualTo(reply);
        }
    }

    @Test
    void closingABufferLeavesNothingReachableAndReturnsItsPages() {
        twoDomains();
        long bufferBytes = memory.allocator().usage().bufferBytes();
        SharedBuffer b = sharing.allocate(2 * granule(), List.of(first, second));
        long iovaFirst = b.iova(first);
        long iovaSecond = b.iova(second);
        long length = b.length();
        iommu.device(0).read(iovaFirst, (int) length);
        otherUnit.device(0).read(iovaSecond, (int) length);
        b.close();
        b.close();
        assertThat(first).as(rule("close unmaps from every domain")).doesNotTranslateAnyOf(iovaFirst, length);
        assertThat(second).as(rule("close unmaps from every domain")).doesNotTranslateAnyOf(iovaSecond, length);
        faults("close flushes every IOTLB before freeing the pages", "a device read after close",
                () -> iommu.device(0).read(iovaFirst, 1));
        faults("close flushes every IOTLB before freeing the pages", "a device read after close",
                () -> otherUnit.device(0).read(iovaSecond, 1));
        assertThat(memory.allocator().usage().bufferBytes()).as(rule("close returns the pages")).isEqualTo(bufferBytes);
        assertThat(sharing.liveBuffers()).isZero();
    }

    @Test
    void failedAllocationLeavesEveryDomainAndAllocatorAsBefore() {
        twoDomains();
        long size = 5 * granule() + 1;
        String r = "allocation completes or leaves every domain, IOVA allocator and the page allocator as before";
        for (FailureInjector.Point point : FailureInjector.Point.values()) {
            for (int n = 1; n <= 32; n++) {
                List<PageAllocator.Block> blocks = memory.allocator().allocatedBlocks();
                var iovasFirst = first.iovaAllocator().snapshot();
                var iovasSecond = second.iovaAllocator().snapshot();
                memory.failures().failNth(point, n);
                SharedBuffer b = null;
                try {
                    b = sharing.allocate(size, List.of(first, second));
                } catch (RuntimeException e) {
                    memory.failures().clear();
                    String what = "allocate failing at the " + n + "th " + point + " (" + e + ")";
                    assertThat(memory.allocator().allocatedBlocks()).as(rule(r) + " broken: " + what
                            + " changed the page allocator").isEqualTo(blocks);
                    assertThat(first.iovaAllocator().snapshot()).as(rule(r) + " broken: " + what
                            + " changed the first domain's IOVA allocator").isEqualTo(iovasFirst);
                    assertThat(second.iovaAllocator().snapshot()).as(rule(r) + " broken: " + what
                            + " changed the second domain's IOVA allocator").isEqualTo(iovasSecond);
                    continue;
                }
                memory.failures().clear();
                assertThat(b).isContiguousIn(first).isContiguousIn(second);
                b.close();
                break;
            }
        }
    }

    @Test
    void failedLateSharingOrImportLeavesEveryDomainAndAllocatorAsBefore() {
        twoDomains();
        String r = "late sharing and import complete or leave every domain, IOVA allocator and the page allocator"
                + " as before";
        long a = sharing.alignment(List.of(first, second), ShareOptions.DEFAULTS);
        PageLease lease = lease(4 * a, a);
        long pa = lease.pages().segments().get(0).pa();
        ScatterList list = ScatterList.of(new ScatterList.Segment(pa + 2 * a, a), new ScatterList.Segment(pa, a));
        try (SharedBuffer owner = sharing.allocate(3 * granule(), List.of(first))) {
            for (String what : List.of("shareWith", "importScatterList")) {
                for (FailureInjector.Point point : FailureInjector.Point.values()) {
                    for (int n = 1; n <= 32; n++) {
                        List<PageAllocator.Block> blocks = memory.allocator().allocatedBlocks();
                        var iovasFirst = first.iovaAllocator().snapshot();
                        var iovasSecond = second.iovaAllocator().snapshot();
                        memory.failures().failNth(point, n);
                        SharedBuffer imported = null;
                        try {
                            if (what.equals("shareWith")) {
                                owner.shareWith(second);
                            } else {
                                imported = sharing.importScatterList(lease, list, List.of(first, second), ShareOptions.DEFAULTS);
                            }
                        } catch (RuntimeException e) {
                            memory.failures().clear();
                            String call = what + " failing at the " + n + "th " + point + " (" + e + ")";
                            assertThat(memory.allocator().allocatedBlocks()).as(rule(r) + " broken: " + call
                                    + " changed the page allocator").isEqualTo(blocks);
                            assertThat(first.iovaAllocator().snapshot()).as(rule(r) + " broken: " + call
                                    + " changed the first domain's IOVA allocator").isEqualTo(iovasFirst);
                            assertThat(second.iovaAllocator().snapshot()).as(rule(r) + " broken: " + call
                                    + " changed the second domain's IOVA allocator").isEqualTo(iovasSecond);
                            assertThat(owner.isMappedIn(second)).as(rule(r) + " broken: " + call
                                    + " left the buffer mapped").isFalse();
                            continue;
                        }
                        memory.failures().clear();
                        if (imported != null) {
                            assertThat(imported).isContiguousIn(first).isContiguousIn(second).hasNoOverExposure();
                            imported.close();
                        } else {
                            assertThat(owner).isContiguousIn(second);
                            owner.unshare(second);
                        }
                        break;
                    }
                }
            }
        }
    }

    @Test
    void lateSharingIntoADomainWhoseGranuleDividesTheAlignmentIsContiguous() {
        twoDomains();
        try (SharedBuffer b = sharing.allocate(3 * granule(), List.of(first))) {
            long iova = b.shareWith(second);
            assertThat(b.iova(second)).isEqualTo(iova);
            assertThat(b).as(rule("late sharing maps the buffer contiguously")).isContiguousIn(second)
                    .isContiguousIn(first).isAligned().hasNoOverExposure();
            b.unshare(second);
            assertThat(second).as(rule("unshare unmaps from that domain")).doesNotTranslateAnyOf(iova, b.length());
        }
    }

    @Test
    void identicalIovaBufferHasOneIovaInEveryDomain() {
        twoDomains();
        ShareOptions same = ShareOptions.builder().identicalIova(true).build();
        try (SharedBuffer b = sharing.allocate(2 * granule(), List.of(first, second), same)) {
            assertThat(b).hasTheSameIovaInEveryDomain().isContiguousInEveryDomain().hasNoOverExposure();
        }
    }

    @Test
    void importRefusesASegmentNotAlignedToTheGranuleAndNamesIt() {
        twoDomains();
        long a = sharing.alignment(List.of(first, second), ShareOptions.DEFAULTS);
        PageLease lease = lease(4 * a, a);
        long pa = lease.pages().segments().get(0).pa();
        ScatterList list = ScatterList.of(new ScatterList.Segment(pa, a), new ScatterList.Segment(pa + 2 * a + a / 2, a));
        UnsafeScatterListException e = refuses("import refuses a scatter list not aligned to A",
                UnsafeScatterListException.class, "importScatterList(" + list + ")",
                () -> sharing.importScatterList(lease, list, List.of(first, second), ShareOptions.DEFAULTS));
        assertThat(e.getMessage()).as(rule("the import error names the first bad segment")).contains("segment 1");
        assertThat(first).as(rule("a refused import maps nothing")).doesNotTranslateAnyOf(first.iovaAllocator().start(),
                8 * a);
    }

    @Test
    void helperIsSafeFromManyThreads() throws Exception {
        twoDomains();
        long bufferBytes = memory.allocator().usage().bufferBytes();
        long g = granule();
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Callable<Void>> work = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                int id = t;
                work.add(() -> {
                    for (int i = 0; i < 10; i++) {
                        try (SharedBuffer b = sharing.allocate((id + 1) * g + i, List.of(first, second))) {
                            byte[] data = pattern(16, id * 16 + i);
                            b.write(0, data);
                            if (!Arrays.equals(otherUnit.device(0).read(b.iova(second), 16), data)
                                    || !Arrays.equals(iommu.device(0).read(b.iova(first), 16), data)) {
                                fail(rule("buffers may be used from many threads") + " broken: thread " + id
                                        + " read other bytes than it wrote through " + b);
                            }
                        }
                    }
                    return null;
                });
            }
            for (Future<Void> f : pool.invokeAll(work)) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
            pool.awaitTermination(10, TimeUnit.SECONDS);
        }
        assertThat(sharing.liveBuffers()).isZero();
        assertThat(memory.allocator().usage().bufferBytes()).as(rule("concurrent use leaks no page"))
                .isEqualTo(bufferBytes);
    }

    // =====================================================================================
    // the helper mixing this backend with the generic one
    // =====================================================================================

    // The sharing helper's guarantees with this backend mixed with the generic backend.
    /** A domain of the unit under test with stream 0 attached. */
    private void ownDomain() {
        mine = attachedDomain(0);
        sharing = new DmaSharing(memory);
    }

    private IommuDomain partnerDomain(String variant) {
        Iommu partner = createPartnerIommu(memory, variant);
        IommuDomain d = domain(partner);
        partner.device(0).attach(d);
        return d;
    }

    @Test
    void bufferSharedWithGenericDomainsIsContiguousAlignedAndNotOverExposedInAll() {
        ownDomain();
        IommuDomain small = partnerDomain("lpae-4k");
        IommuDomain large = partnerDomain("lpae-64k");
        try (SharedBuffer b = sharing.allocate(100 * 1024, List.of(mine, small, large))) {
            assertThat(b.alignment()).as(rule("A is the largest granule of all domains"))
                    .isEqualTo(Math.max(Math.max(granule(), 64 * 1024L), memory.pageSize()));
            assertThat(b).isContiguousIn(mine).isContiguousIn(small).isContiguousIn(large).isAligned()
                    .hasNoOverExposure();
            byte[] data = pattern(4096, 1);
            large.devices().iterator().next().write(b.iova(large) + 4096, data);
            assertThat(iommu.device(0).read(b.iova(mine) + 4096, data.length))
                    .as(rule("a device of this backend sees a generic device's writes")).isEqualTo(data);
        }
    }

    @Test
    void lateSharingWithALargerGranuleIsRefusedNamingBothSizes() {
        ownDomain();
        IommuDomain small = partnerDomain("lpae-4k");
        IommuDomain large = partnerDomain("lpae-64k");
        IommuDomain from = granule() < 64 * 1024 ? mine : small;
        IommuDomain to = granule() < 64 * 1024 ? large : mine;
        Assumptions.assumeTrue(to.granule() > Math.max(from.granule(), memory.pageSize()),
                "no partner granule larger than this backend's");
        try (SharedBuffer b = sharing.allocate(from.granule(), List.of(from))) {
            GranuleMismatchException e = refuses("late sharing into a domain whose granule does not divide A fails",
                    GranuleMismatchException.class, "shareWith(" + to + ")", () -> b.shareWith(to));
            assertThat(e.getMessage()).as(rule("the granule error names both sizes"))
                    .contains(Hex.size(b.alignment())).contains(Hex.size(to.granule()));
            assertThat(b.isMappedIn(to)).as(rule("a refused late share maps nothing")).isFalse();
        }
    }

    @Test
    void declaringTheFutureDomainMakesLateSharingWork() {
        ownDomain();
        IommuDomain large = partnerDomain("lpae-64k");
        ShareOptions later = ShareOptions.builder().futureDomains(large).build();
        try (SharedBuffer b = sharing.allocate(granule(), List.of(mine), later)) {
            b.shareWith(large);
            assertThat(b).as(rule("a buffer allocated for a declared future domain can be shared with it"))
                    .isContiguousIn(mine).isContiguousIn(large).isAligned().hasNoOverExposure();
        }
    }

    @Test
    void closingAMixedBufferLeavesNothingReachableInEither() {
        ownDomain();
        IommuDomain small = partnerDomain("lpae-4k");
        long bufferBytes = memory.allocator().usage().bufferBytes();
        SharedBuffer b = sharing.allocate(3 * granule(), List.of(mine, small));
        long a = b.iova(mine);
        long s = b.iova(small);
        iommu.device(0).read(a, 8);
        small.devices().iterator().next().read(s, 8);
        b.close();
        assertThat(mine).as(rule("close unmaps from every domain")).doesNotTranslateAnyOf(a, b.length());
        assertThat(small).as(rule("close unmaps from every domain")).doesNotTranslateAnyOf(s, b.length());
        faults("close flushes every IOTLB", "a read by this backend's device after close",
                () -> iommu.device(0).read(a, 1));
        faults("close flushes every IOTLB", "a read by the generic device after close",
                () -> small.devices().iterator().next().read(s, 1));
        assertThat(memory.allocator().usage().bufferBytes()).as(rule("close returns the pages")).isEqualTo(bufferBytes);
    }
}
