package org.dmashare.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectMethod;

import java.util.EnumSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.dmashare.iommu.Iommu;
import org.dmashare.memory.PhysicalMemory;
import org.junit.jupiter.api.Test;
import org.junit.platform.engine.DiscoverySelector;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

/**
 * Runs the kit, through the JUnit launcher, against a correct test backend (every check passes;
 * none is skipped for a capability it does not declare) and against backends with one deliberate
 * bug each (the check for that rule fails, naming the rule and what the backend did).
 */
class ConformanceKitSelfTest {

    /** A kit over the test backend; the subclasses pick the bugs and the declaration. */
    abstract static class TestKit extends IommuBackendConformanceKit {
        Set<TestBackend.Bug> bugs() {
            return Set.of();
        }

        @Override
        protected Iommu createIommu(PhysicalMemory memory, int streams) {
            return TestBackend.create(memory, streams, 12, bugs());
        }

        @Override
        protected Capabilities capabilities() {
            return Capabilities.builder(4096).pageSizes((1L << 12) | (1L << 21)).blockMappings(true).writeOnly(true)
                    .build();
        }

        /** The generic backend is not on this module's class path: stand in with test units. */
        @Override
        protected Iommu createPartnerIommu(PhysicalMemory memory, String variant) {
            return TestBackend.create(memory, 2, variant.equals("lpae-64k") ? 16 : 12, Set.of());
        }
    }

    static class Correct extends TestKit {
    }

    /** A 16 KiB granule over 4 KiB CPU pages, as Apple's DART under a 4 KiB kernel. */
    static class Correct16k extends TestKit {
        @Override
        protected Iommu createIommu(PhysicalMemory memory, int streams) {
            return TestBackend.create(memory, streams, 14, bugs());
        }

        @Override
        protected Capabilities capabilities() {
            return Capabilities.builder(1L << 14).pageSizes((1L << 14) | (1L << 25)).blockMappings(true)
                    .writeOnly(true).streams(3).build();
        }
    }

    static class FlushOnUnmap extends TestKit {
        @Override
        Set<TestBackend.Bug> bugs() {
            return EnumSet.of(TestBackend.Bug.FLUSH_ON_UNMAP);
        }
    }

    static class IovaToPhysOff extends TestKit {
        @Override
        Set<TestBackend.Bug> bugs() {
            return EnumSet.of(TestBackend.Bug.IOVA_TO_PHYS_OFF_BY_A_GRANULE);
        }
    }

    static class IgnoresReadOnly extends TestKit {
        @Override
        Set<TestBackend.Bug> bugs() {
            return EnumSet.of(TestBackend.Bug.IGNORES_READ_ONLY);
        }
    }

    static class LeaksTables extends TestKit {
        @Override
        Set<TestBackend.Bug> bugs() {
            return EnumSet.of(TestBackend.Bug.LEAKS_TABLES_ON_CLOSE);
        }
    }

    static class IgnoresInjectedMapFailure extends TestKit {
        @Override
        Set<TestBackend.Bug> bugs() {
            return EnumSet.of(TestBackend.Bug.IGNORES_INJECTED_MAP_FAILURE);
        }
    }

    static class LargeBlockStrayAddressBit extends TestKit {
        @Override
        Set<TestBackend.Bug> bugs() {
            return EnumSet.of(TestBackend.Bug.LARGE_BLOCK_STRAY_ADDRESS_BIT);
        }

        @Override
        protected Capabilities capabilities() {
            return Capabilities.builder(4096).pageSizes((1L << 12) | (1L << 21) | (1L << 25)).blockMappings(true)
                    .writeOnly(true).build();
        }
    }

    static class MemoryBeyondTheOutputWidth extends TestKit {
        @Override
        protected PhysicalMemory createMemory() {
            return PhysicalMemory.create(1L << 40, 1L << 30, 4096); // the test unit's output width is 40 bits
        }
    }

    static class NoApertureCheck extends TestKit {
        @Override
        Set<TestBackend.Bug> bugs() {
            return EnumSet.of(TestBackend.Bug.NO_APERTURE_CHECK);
        }
    }

    static class OverwritesOnConflict extends TestKit {
        @Override
        Set<TestBackend.Bug> bugs() {
            return EnumSet.of(TestBackend.Bug.OVERWRITES_ON_CONFLICT);
        }
    }

    static class StreamsShareOneTable extends TestKit {
        @Override
        Set<TestBackend.Bug> bugs() {
            return EnumSet.of(TestBackend.Bug.STREAMS_SHARE_ONE_TABLE);
        }
    }

    static class MapNotAtomic extends TestKit {
        @Override
        Set<TestBackend.Bug> bugs() {
            return EnumSet.of(TestBackend.Bug.MAP_NOT_ATOMIC);
        }
    }

    static class UnmapMiscounts extends TestKit {
        @Override
        Set<TestBackend.Bug> bugs() {
            return EnumSet.of(TestBackend.Bug.UNMAP_MISCOUNTS);
        }
    }

    /** Gives every leaf a sub-page window although it declares no sub-page protection. */
    static class UndeclaredSubPageWindows extends TestKit {
        @Override
        Set<TestBackend.Bug> bugs() {
            return EnumSet.of(TestBackend.Bug.HALF_PAGE_WINDOWS);
        }
    }

    /** Declares bypass although the test backend has none. */
    static class OverDeclared extends TestKit {
        @Override
        protected Capabilities capabilities() {
            return Capabilities.builder(4096).pageSizes((1L << 12) | (1L << 21)).blockMappings(true).writeOnly(true)
                    .bypass(true).build();
        }
    }

    /**
     * Declares one stream and no block mappings, bypass or sub-page protection: the test backend
     * has no bypass or sub-page windows, but it does map blocks, so the block checks fail.
     */
    static class UnderDeclared extends TestKit {
        @Override
        protected Capabilities capabilities() {
            return Capabilities.builder(4096).pageSizes((1L << 12) | (1L << 21)).streams(1).writeOnly(true).build();
        }
    }

    /** Does not declare write-only mappings, which the test backend grants. */
    static class WriteOnlyUndeclared extends TestKit {
        @Override
        protected Capabilities capabilities() {
            return Capabilities.builder(4096).pageSizes((1L << 12) | (1L << 21)).blockMappings(true).build();
        }
    }

    /** Check method name to its outcome. */
    private static Map<String, TestExecutionResult> run(Class<?> kit) {
        return run(kit, selectClass(kit));
    }

    private static Map<String, TestExecutionResult> run(Class<?> kit, DiscoverySelector selector) {
        Map<String, TestExecutionResult> results = new TreeMap<>();
        Launcher launcher = LauncherFactory.create();
        launcher.execute(LauncherDiscoveryRequestBuilder.request().selectors(selector).build(),
                new TestExecutionListener() {
                    @Override
                    public void executionFinished(TestIdentifier id, TestExecutionResult result) {
                        id.getSource().filter(MethodSource.class::isInstance).map(MethodSource.class::cast)
                                .ifPresent(m -> results.put(m.getMethodName(), result));
                    }
                });
        return results;
    }

    private static String message(TestExecutionResult r) {
        return r.getThrowable().map(Throwable::getMessage).orElse("");
    }

    private static void onlyFails(Class<?> kit, String check, String ruleText) {
        Map<String, TestExecutionResult> results = run(kit, selectMethod(kit, check));
        assertThat(results).containsKey(check);
        TestExecutionResult r = results.get(check);
        assertThat(r.getStatus()).as(check + " against " + kit.getSimpleName())
                .isEqualTo(TestExecutionResult.Status.FAILED);
        assertThat(message(r)).as("failure message of " + check).contains(ruleText)
                .startsWith("[" + kit.getSimpleName() + " on test test-4k IOMMU 'test-unit'");
    }

    @Test
    void aCorrectBackendWithA16KiBGranuleOver4KiBPagesPassesEveryCheck() {
        Map<String, TestExecutionResult> results = run(Correct16k.class);
        assertThat(results).hasSizeGreaterThan(40);
        results.forEach((check, r) -> assertThat(r.getStatus())
                .as(check + ": " + r.getThrowable().map(Throwable::toString).orElse(""))
                .isIn(TestExecutionResult.Status.SUCCESSFUL, TestExecutionResult.Status.ABORTED));
    }

    @Test
    void aCorrectBackendPassesEveryCheckAndSkipsNoneForAnUndeclaredCapability() {
        Map<String, TestExecutionResult> results = run(Correct.class);
        assertThat(results).hasSizeGreaterThan(40);
        results.forEach((check, r) -> assertThat(r.getStatus())
                .as(check + ": " + r.getThrowable().map(Throwable::toString).orElse(""))
                .isEqualTo(TestExecutionResult.Status.SUCCESSFUL));
    }

    @Test
    void checksOfUndeclaredCapabilitiesCheckTheirAbsenceAndOnlyTheStreamChecksAreSkipped() {
        Map<String, TestExecutionResult> results = run(UnderDeclared.class);
        for (String check : new String[] {"streamsInDifferentDomainsAreIsolated",
                "streamsSharingADomainSeeTheSameTranslations"}) {
            assertThat(results.get(check).getStatus()).as(check).isEqualTo(TestExecutionResult.Status.ABORTED);
            assertThat(message(results.get(check))).as(check).contains("capability streams >= 2 not declared");
        }
        for (String check : new String[] {"identityDomainPassesPhysicalAddressesThroughWithBypassAndIsRefusedWithout",
                "readOfAWriteOnlyMappingFaultsWithPermissionOrWriteOnlyIsRefusedWhereTheFormatCannotExpressIt",
                "accessOutsideTheSubPageWindowFaultsWithSubpageAndWithoutSubPageProtectionNoLeafHasAWindow"}) {
            assertThat(results.get(check).getStatus()).as(check + ": " + message(results.get(check)))
                    .isEqualTo(TestExecutionResult.Status.SUCCESSFUL);
        }
    }

    @Test
    void aBackendThatMapsBlocksItDoesNotDeclareIsCaught() {
        onlyFails(UnderDeclared.class,
                "mapUsesBlockLeavesWhenAlignmentAndLengthAllowAndGranulePagesOnlyWithoutBlockMappings",
                "rule 'without block mappings, map uses granule pages even where a block would fit' broken: after"
                        + " map(");
        onlyFails(UnderDeclared.class,
                "mapOfARangeStraddlingABlockUsesPagesAtTheEdgesAndTheBlockInsideOrPagesThroughoutWithoutBlockMappings",
                "rule 'without block mappings, map uses granule pages throughout a range straddling a would-be block'");
        onlyFails(UnderDeclared.class,
                "unmapRefusesToCutABlockMappingAndChangesNothingOrCutsAPageRunWithoutBlockMappings",
                "rule 'without block mappings, unmap of one granule from the middle of a block-sized range succeeds"
                        + " and leaves the rest mapped' broken: unmap(");
    }

    @Test
    void aBackendWithSubPageWindowsItDoesNotDeclareIsCaught() {
        onlyFails(UndeclaredSubPageWindows.class,
                "accessOutsideTheSubPageWindowFaultsWithSubpageAndWithoutSubPageProtectionNoLeafHasAWindow",
                "rule 'without sub-page protection no leaf has a sub-page window and devices reach the whole page'"
                        + " broken: the hardware walk at IOVA 0x1000 finds");
    }

    @Test
    void aBackendThatGrantsWriteOnlyItDoesNotDeclareIsCaught() {
        onlyFails(WriteOnlyUndeclared.class,
                "readOfAWriteOnlyMappingFaultsWithPermissionOrWriteOnlyIsRefusedWhereTheFormatCannotExpressIt",
                "rule 'a format without write-only mappings refuses Prot.WRITE instead of granting reads' broken:"
                        + " map(0x1000, .., Prot.WRITE) should throw InvalidArgumentException but the backend"
                        + " completed normally");
    }

    @Test
    void aBackendThatFlushesOnUnmapBreaksStaleUntilFlush() {
        onlyFails(FlushOnUnmap.class, "unmapWithoutFlushLeavesTheCachedTranslationUsableUntilFlushIotlb",
                "rule 'a cached translation stays usable until flushIotlb (stale until flush)' broken: after unmap"
                        + " without flush the device access faulted");
    }

    @Test
    void aBackendWhoseIovaToPhysDisagreesWithTheWalkIsCaught() {
        onlyFails(IovaToPhysOff.class, "iovaToPhysAgreesWithTheHardwareWalk",
                "rule 'iovaToPhys agrees with the hardware walk'");
    }

    @Test
    void aBackendThatIgnoresReadOnlyIsCaught() {
        onlyFails(IgnoresReadOnly.class, "writeToAReadOnlyMappingFaultsWithPermissionAndWritesNothing",
                "rule 'a device write to a read-only mapping faults with PERMISSION and writes nothing' broken: a device"
                        + " write to read-only IOVA 0x1000 should throw DeviceFaultException but the backend completed"
                        + " normally");
        onlyFails(IgnoresReadOnly.class, "walkReportsTheRightsTheMappingGranted",
                "rule 'a READ leaf allows reads and forbids writes'");
    }

    @Test
    void aBackendThatLeaksTablesOnCloseIsCaught() {
        onlyFails(LeaksTables.class, "closingADomainReturnsEveryTablePage",
                "rule 'closing a domain returns every table page to the page allocator'");
    }

    @Test
    void aDomainThatNeverHonoursAnInjectedMapFailureIsCaught() {
        onlyFails(IgnoresInjectedMapFailure.class, "mapThatFailsPartwayLeavesTablesAndTranslationsAsBefore",
                "the domain never honours an injected map failure");
    }

    @Test
    void aWrongAddressInALargerBlockThanTheSmallestIsCaughtByTheEveryPageSizeCheckAlone() {
        Map<String, TestExecutionResult> results = run(LargeBlockStrayAddressBit.class);
        results.forEach((check, r) -> {
            if (check.equals("everyDeclaredPageSizeIsMappedAsOneLeafOfThatSizeAtTheBottomAndTheTopOfTheAperture")) {
                assertThat(r.getStatus()).isEqualTo(TestExecutionResult.Status.FAILED);
                assertThat(message(r)).contains("every declared page size is mapped as one leaf of that size")
                        .contains("32 MiB");
            } else {
                assertThat(r.getStatus()).as(check + ": " + message(r)).isEqualTo(TestExecutionResult.Status.SUCCESSFUL);
            }
        });
    }

    @Test
    void memoryTheUnitCannotReachIsOneSetupFailureAndEveryOtherCheckIsSkipped() {
        Map<String, TestExecutionResult> results = run(MemoryBeyondTheOutputWidth.class);
        assertThat(results).hasSizeGreaterThan(40);
        results.forEach((check, r) -> {
            if (check.equals("theKitsMemoryIsReachableAndTheUnitsInputWidthMatchesItsDomains")) {
                assertThat(r.getStatus()).isEqualTo(TestExecutionResult.Status.FAILED);
                assertThat(message(r)).contains("kit setup: memory [0x100_0000_0000, ", "40-bit output width");
            } else {
                assertThat(r.getStatus()).as(check).isEqualTo(TestExecutionResult.Status.ABORTED);
            }
        });
    }

    @Test
    void aBackendThatMapsOutsideItsApertureIsCaught() {
        onlyFails(NoApertureCheck.class, "mapRefusesRangesOutsideTheAperture",
                "rule 'map refuses ranges outside the aperture' broken: map(");
    }

    @Test
    void aBackendThatOverwritesExistingMappingsIsCaught() {
        onlyFails(OverwritesOnConflict.class, "mapRefusesAnyOverlapWithAnExistingMappingAndChangesNothing",
                "should throw MappingConflictException but the backend completed normally");
    }

    @Test
    void aBackendWhoseStreamsShareOneTableIsCaught() {
        onlyFails(StreamsShareOneTable.class, "streamsInDifferentDomainsAreIsolated",
                "rule 'each stream walks its own domain's tables'");
    }

    @Test
    void aBackendWhoseFailedMapLeavesPartOfTheRangeMappedIsCaught() {
        onlyFails(MapNotAtomic.class, "mapThatFailsPartwayLeavesTablesAndTranslationsAsBefore",
                "rule 'a map that fails partway (table page or map failure) changes nothing' broken: map(");
    }

    @Test
    void aBackendThatMiscountsUnmappedBytesIsCaughtByTheRandomRun() {
        onlyFails(UnmapMiscounts.class, "randomMapsAndUnmapsAgreeWithAReferenceModel",
                "rule 'map and unmap behave as a reference model of their rules (seed ");
        onlyFails(UnmapMiscounts.class, "unmapReturnsTheBytesUnmappedAndRemovesTheTranslations",
                "rule 'unmap returns the bytes unmapped'");
    }

    @Test
    void aBackendThatDeclaresBypassItLacksIsCaught() {
        onlyFails(OverDeclared.class, "identityDomainPassesPhysicalAddressesThroughWithBypassAndIsRefusedWithout",
                "rule 'a unit declaring bypass creates identity domains' broken: createDomain(IDENTITY) threw");
    }
}
