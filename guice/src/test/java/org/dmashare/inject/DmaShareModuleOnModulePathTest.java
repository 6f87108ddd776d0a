package org.dmashare.inject;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.common.collect.ImmutableList;
import com.google.common.util.concurrent.internal.InternalFutureFailureAccess;
import com.google.inject.Guice;
import jakarta.inject.Inject;
import java.lang.module.Configuration;
import java.lang.module.ModuleFinder;
import java.lang.module.ModuleReference;
import java.lang.reflect.Array;
import java.lang.reflect.Method;
import java.lang.reflect.Type;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.aopalliance.intercept.MethodInterceptor;
import org.dmashare.generic.GenericBackend;
import org.dmashare.iommu.IommuBackend;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The optional Guice wiring on the module path: the compiled api, inject (this module) and generic
 * modules, Guice 7 and its dependencies (as automatic or named modules) are resolved into a fresh
 * {@link ModuleLayer}, so the class-path copies play no part. Guice must read and reflect into
 * {@code org.dmashare.inject} through its module descriptor alone ({@code requires transitive
 * com.google.guice}, {@code opens org.dmashare.inject to com.google.guice}), the api must not read
 * Guice at all, and the {@code DmaShareModule} must discover the generic backend through the
 * api's {@code uses} and the generic module's {@code provides}.
 * Everything inside the layer is reached reflectively, through the layer's own copies of the
 * public types.
 *
 * <p>Guice reaches the package-private {@code @Provides} method in one of two ways, chosen by its
 * {@code guice_bytecode_gen_option} system property: with bytecode generation ({@code ENABLED},
 * the default) it defines glue classes through {@code sun.misc.Unsafe}, which needs no {@code
 * opens}; without it ({@code DISABLED}, and also Guice's path for non-public methods when it
 * cannot use {@code Unsafe}, e.g. in a runtime image without {@code jdk.unsupported}) it uses core
 * reflection, which works only because the inject module opens {@code org.dmashare.inject} to Guice. Both are run. Each run builds its own layer, so the
 * layer's copy of Guice reads the property afresh; the property is restored afterwards.
 */
class DmaShareModuleOnModulePathTest {
    private static final long BASE = 0x8_0000_0000L;
    private static final String BYTECODE_GEN = "guice_bytecode_gen_option";

    private static Path location(Class<?> type) throws Exception {
        return Path.of(type.getProtectionDomain().getCodeSource().getLocation().toURI());
    }

    /** The api, inject and generic modules, Guice, and Guice's runtime dependencies, each from its jar or classes dir. */
    private static ModuleLayer layer() throws Exception {
        ModuleFinder finder = ModuleFinder.of(
                location(IommuBackend.class),
                location(DmaShareModule.class),
                location(GenericBackend.class),
                location(Guice.class),
                location(Inject.class),
                location(MethodInterceptor.class),
                location(ImmutableList.class),
                location(InternalFutureFailureAccess.class));
        Set<String> names =
                finder.findAll().stream().map(r -> r.descriptor().name()).collect(Collectors.toSet());
        assertThat(names)
                .contains(
                        "org.dmashare.api",
                        "org.dmashare.inject",
                        "org.dmashare.generic",
                        "com.google.guice",
                        "jakarta.inject");
        ModuleReference guice = finder.find("com.google.guice").orElseThrow();
        assertThat(guice.descriptor().isAutomatic()).isTrue();
        Configuration cf = ModuleLayer.boot().configuration().resolveAndBind(finder, ModuleFinder.of(), names);
        assertThat(cf.modules()).extracting(m -> m.name()).containsAll(names);
        return ModuleLayer.boot().defineModulesWithOneLoader(cf, ClassLoader.getPlatformClassLoader());
    }

    /** Calls the public method {@code name(parameters)} of {@code type} on {@code target} (null for static). */
    private static Object call(Class<?> type, Object target, String name, List<Class<?>> parameters, Object... args)
            throws Exception {
        Method m = type.getMethod(name, parameters.toArray(Class<?>[]::new));
        return m.invoke(target, args);
    }

    private static Object call(Class<?> type, Object target, String name) throws Exception {
        return call(type, target, name, List.of());
    }

    /**
     * An injector built from DmaShareModule inside the layer provides the discovered generic
     * backend and a singleton DmaSharing over the bound memory, and that helper shares a buffer
     * into a generic domain (the domain translates it to the buffer's pages) and closes it.
     *
     * @param bytecodeGen Guice's {@code guice_bytecode_gen_option} for this run
     */
    @ParameterizedTest(name = "guice_bytecode_gen_option={0}")
    @ValueSource(strings = {"ENABLED", "DISABLED"})
    void injectorOnTheModulePathWiresAWorkingHelper(String bytecodeGen) throws Exception {
        String previous = System.setProperty(BYTECODE_GEN, bytecodeGen);
        try {
            wireAndShare();
        } finally {
            if (previous == null) {
                System.clearProperty(BYTECODE_GEN);
            } else {
                System.setProperty(BYTECODE_GEN, previous);
            }
        }
    }

    private static void wireAndShare() throws Exception {
        ModuleLayer layer = layer();
        Module api = layer.findModule("org.dmashare.api").orElseThrow();
        Module inject = layer.findModule("org.dmashare.inject").orElseThrow();
        Module guiceModule = layer.findModule("com.google.guice").orElseThrow();
        assertThat(api.canRead(guiceModule)).as("the core does not read Guice").isFalse();
        assertThat(inject.canRead(guiceModule)).isTrue();
        assertThat(inject.isOpen("org.dmashare.inject", guiceModule)).isTrue();
        ClassLoader loader = layer.findLoader("org.dmashare.inject");

        Class<?> moduleType = loader.loadClass(DmaShareModule.class.getName());
        assertThat(moduleType).as("the layer's own copy").isNotSameAs(DmaShareModule.class);
        assertThat(moduleType.getModule()).isSameAs(inject);
        Class<?> guice = loader.loadClass(Guice.class.getName());
        assertThat(guice.getModule()).isSameAs(guiceModule);
        Class<?> guiceModuleType = loader.loadClass("com.google.inject.Module");
        Class<?> injectorType = loader.loadClass("com.google.inject.Injector");
        Class<?> keyType = loader.loadClass("com.google.inject.Key");
        Class<?> types = loader.loadClass("com.google.inject.util.Types");
        Class<?> memoryType = loader.loadClass("org.dmashare.memory.PhysicalMemory");
        Class<?> backendType = loader.loadClass(IommuBackend.class.getName());
        Class<?> configType = loader.loadClass("org.dmashare.iommu.IommuConfig");
        Class<?> iommuType = loader.loadClass("org.dmashare.iommu.Iommu");
        Class<?> domainType = loader.loadClass("org.dmashare.iommu.IommuDomain");
        Class<?> sharingType = loader.loadClass("org.dmashare.sharing.DmaSharing");
        Class<?> bufferType = loader.loadClass("org.dmashare.sharing.SharedBuffer");

        Object memory =
                call(memoryType, null, "create", List.of(long.class, long.class, int.class), BASE, 1L << 30, 4096);
        Object dmaShareModule = moduleType.getConstructor(memoryType).newInstance(memory);
        Object modules = Array.newInstance(guiceModuleType, 1);
        Array.set(modules, 0, dmaShareModule);
        Object injector = call(guice, null, "createInjector", List.of(modules.getClass()), modules);

        // Set<IommuBackend>: discovered in the layer through module-info's provides/uses.
        Object setOfBackends = call(types, null, "setOf", List.of(Type.class), backendType);
        Object key = call(keyType, null, "get", List.of(Type.class), setOfBackends);
        Set<?> backends = (Set<?>) call(injectorType, injector, "getInstance", List.of(keyType), key);
        assertThat(backends).hasSize(1);
        Object backend = backends.iterator().next();
        assertThat(call(backendType, backend, "name")).isEqualTo(GenericBackend.NAME);
        assertThat(backend.getClass().getModule().getName()).isEqualTo("org.dmashare.generic");

        Object sharing = call(injectorType, injector, "getInstance", List.of(Class.class), sharingType);
        assertThat(sharing.getClass()).isSameAs(sharingType);
        assertThat(call(injectorType, injector, "getInstance", List.of(Class.class), sharingType))
                .as("singleton")
                .isSameAs(sharing);
        assertThat(call(sharingType, sharing, "memory")).isSameAs(memory);

        // Use it once: share a small buffer into a generic domain, check the translation, close.
        Object config = call(configType, null, "of", List.of(String.class), "lpae-4k");
        Object iommu = call(backendType, backend, "create", List.of(configType, memoryType), config, memory);
        Object domain = call(iommuType, iommu, "createDomain");
        Object buffer = call(sharingType, sharing, "allocate", List.of(long.class, List.class), 8192L, List.of(domain));
        byte[] data = {1, 2, 3, 4, 5};
        call(bufferType, buffer, "write", List.of(long.class, byte[].class), 4096L, data);
        assertThat((byte[]) call(bufferType, buffer, "read", List.of(long.class, int.class), 4096L, data.length))
                .containsExactly(data);
        long iova = (long) call(bufferType, buffer, "iova", List.of(domainType), domain);
        long pa = (long) call(bufferType, buffer, "physicalAddress", List.of(long.class), 4096L);
        assertThat(call(domainType, domain, "iovaToPhys", List.of(long.class), iova + 4096))
                .isEqualTo(pa);
        assertThat(call(sharingType, sharing, "liveBuffers")).isEqualTo(1L);

        call(bufferType, buffer, "close");
        assertThat(call(sharingType, sharing, "liveBuffers")).isEqualTo(0L);
        long none = domainType.getField("NO_TRANSLATION").getLong(null);
        assertThat(call(domainType, domain, "iovaToPhys", List.of(long.class), iova + 4096))
                .isEqualTo(none);
        call(domainType, domain, "close");
    }
}
