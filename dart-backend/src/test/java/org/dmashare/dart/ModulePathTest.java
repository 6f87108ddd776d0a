package org.dmashare.dart;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.module.Configuration;
import java.lang.module.ModuleFinder;
import java.lang.reflect.Method;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.dmashare.iommu.IommuBackend;
import org.junit.jupiter.api.Test;

/** The module descriptor provides the backend: discovery works on the module path too. */
class ModulePathTest {

    private static Path location(Class<?> c) throws Exception {
        return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI());
    }

    @Test
    void backendIsFoundInAModuleLayer() throws Exception {
        ModuleFinder finder = ModuleFinder.of(location(IommuBackend.class), location(DartBackend.class));
        Configuration cf = ModuleLayer.boot()
                .configuration()
                .resolveAndBind(finder, ModuleFinder.of(), Set.of("org.dmashare.dart"));
        ModuleLayer layer = ModuleLayer.boot().defineModulesWithOneLoader(cf, ClassLoader.getPlatformClassLoader());
        Class<?> backends = layer.findLoader("org.dmashare.api").loadClass("org.dmashare.iommu.IommuBackends");
        List<?> found =
                (List<?>) backends.getMethod("available", ModuleLayer.class).invoke(null, layer);
        List<String> names = new ArrayList<>();
        for (Object b : found) {
            Method name = b.getClass().getMethod("name");
            names.add((String) name.invoke(b));
        }
        assertThat(names).containsExactly("apple-dart");
        assertThat(layer.findModule("org.dmashare.dart")).isPresent();
    }
}
