import BiomechCore
import Foundation

/// Resolves `extends:` chains into one configuration tree.
///
/// Rules (documented in docs/recipes.md):
/// - `extends: other.yaml` is resolved relative to the file that says it; chains may be
///   any depth; a cycle is an error.
/// - Mappings merge key by key, recursively; the extending file wins.
/// - Lists and scalars are replaced whole.
/// - A key set to `null` (`~`) in the extending file removes it.
/// - A plugin section (a mapping with `id`) whose `id` changes is replaced whole, so the
///   old plugin's parameters never leak into the new one.
public enum RecipeResolver {
    public static func resolve(file url: URL) throws -> ConfigValue {
        try resolve(file: url.standardizedFileURL, chain: [])
    }

    private static func resolve(file url: URL, chain: [String]) throws -> ConfigValue {
        let name = displayPath(url)
        if chain.contains(url.path) {
            throw InputError(file: name, field: "extends",
                             "recipes extend each other in a cycle: \((chain + [url.path]).map { displayPath(URL(fileURLWithPath: $0)) }.joined(separator: " → "))")
        }
        let own = try YAMLConfigLoader.load(file: url, displayName: name)
        guard let entries = own.entries else {
            throw own.error(field: nil, "a recipe must be a mapping of keys, got \(own.kindName)")
        }
        guard let parentEntry = entries.first(where: { $0.key == "extends" }) else { return own }
        guard let parentPath = parentEntry.value.stringValue else {
            throw parentEntry.value.error(field: "extends", "expected the path of another recipe")
        }
        let parentURL = URL(fileURLWithPath: parentPath, relativeTo: url.deletingLastPathComponent()).standardizedFileURL
        guard FileManager.default.fileExists(atPath: parentURL.path) else {
            throw parentEntry.value.error(field: "extends", "no recipe at '\(parentPath)' (looked for \(displayPath(parentURL)))")
        }
        let parent = try resolve(file: parentURL, chain: chain + [url.path])
        var child = own
        child.node = .mapping(entries.filter { $0.key != "extends" })
        return merge(parent, child)
    }

    /// Merges `override` onto `base` with the rules above.
    public static func merge(_ base: ConfigValue, _ override: ConfigValue) -> ConfigValue {
        guard let baseEntries = base.entries, let overrideEntries = override.entries else { return override }
        if let oldID = base["id"]?.stringValue, let newID = override["id"]?.stringValue, oldID != newID {
            return override
        }
        var merged = baseEntries
        for entry in overrideEntries {
            if let index = merged.firstIndex(where: { $0.key == entry.key }) {
                if entry.value.isNull { merged.remove(at: index); continue }
                merged[index] = .init(key: entry.key, keyLocation: entry.keyLocation, value: merge(merged[index].value, entry.value))
            } else if !entry.value.isNull {
                merged.append(entry)
            }
        }
        return ConfigValue(.mapping(merged), at: override.location ?? base.location)
    }

    /// A path shown relative to the working directory when it lies below it.
    static func displayPath(_ url: URL) -> String {
        let cwd = FileManager.default.currentDirectoryPath
        let path = url.standardizedFileURL.path
        return path.hasPrefix(cwd + "/") ? String(path.dropFirst(cwd.count + 1)) : path
    }
}
